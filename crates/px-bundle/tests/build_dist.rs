//! `build_dist`: runs `build.command` with streamed output, then copies
//! `build.files` into a `dist/` that replaces the old one atomically.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use px_bundle::{BuildOutput, BundleError, build_dist};
use px_manifest::Manifest;
use serde_json::json;

fn manifest(command: Option<&str>, files: serde_json::Value) -> Manifest {
    let mut build = json!({ "files": files });
    if let Some(command) = command {
        build["command"] = json!(command);
    }
    serde_json::from_value(json!({
        "manifest_version": 1,
        "id": "com.example.build",
        "name": "Build test",
        "version": "0.1.0",
        "runtime": { "kind": "process", "entry": "bin/run" },
        "build": build,
    }))
    .unwrap()
}

fn write(path: &Path, data: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn build(project: &Path, manifest: &Manifest) -> Result<Vec<BuildOutput>, BundleError> {
    let mut lines = Vec::new();
    build_dist(project, manifest, &mut |line| lines.push(line))?;
    Ok(lines)
}

/// Sorted relative paths of the files under `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    out.sort();
    out
}

/// Names at the project root, to spot leftover temporary directories.
fn root_names(project: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(project)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn output_is_streamed_while_the_command_runs() {
    let project = tempfile::tempdir().unwrap();
    // The command waits (up to ~5 s) for a file that the callback creates when
    // it sees the first line: this only passes if lines arrive while it runs.
    let command = "echo ready; i=0; while [ ! -f go ]; do i=$((i+1)); [ $i -gt 100 ] && exit 3; sleep 0.05; done; \
                   echo oops >&2; echo done";
    let m = manifest(Some(command), json!({}));
    let mut lines = Vec::new();
    let go = project.path().join("go");
    build_dist(project.path(), &m, &mut |line| {
        if line == BuildOutput::Stdout("ready".into()) {
            fs::write(&go, "").unwrap();
        }
        lines.push(line);
    })
    .unwrap();
    let stdout: Vec<_> = lines
        .iter()
        .filter(|l| matches!(l, BuildOutput::Stdout(_)))
        .cloned()
        .collect();
    assert_eq!(
        stdout,
        [
            BuildOutput::Stdout("ready".into()),
            BuildOutput::Stdout("done".into())
        ]
    );
    assert!(lines.contains(&BuildOutput::Stderr("oops".into())));
}

#[test]
fn a_failing_command_reports_its_status_and_keeps_the_old_dist() {
    let project = tempfile::tempdir().unwrap();
    write(&project.path().join("dist/old.txt"), "old", 0o644);
    let m = manifest(Some("echo boom >&2; exit 7"), json!({}));
    let mut lines = Vec::new();
    let err = build_dist(project.path(), &m, &mut |line| lines.push(line)).unwrap_err();
    match err {
        BundleError::CommandFailed {
            ref command,
            status,
        } => {
            assert_eq!(command, "echo boom >&2; exit 7");
            assert_eq!(status.code(), Some(7));
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    assert_eq!(lines, [BuildOutput::Stderr("boom".into())]);
    assert_eq!(files(&project.path().join("dist")), ["old.txt"]);
    assert_eq!(root_names(project.path()), ["dist"]);
}

#[test]
fn files_globs_and_directories_are_copied_with_exec_bits() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    write(&p.join("web/app.js"), "app", 0o644);
    write(&p.join("web/lib/util.js"), "util", 0o644);
    write(&p.join("web/lib/style.css"), "css", 0o644);
    write(&p.join("target/release/plugin"), "binary", 0o755);
    write(&p.join("assets/img/logo.svg"), "svg", 0o644);
    write(&p.join("assets/readme.txt"), "readme", 0o600);
    let m = manifest(
        Some("mkdir -p gen && echo generated > gen/out.txt"),
        json!({
            "static": "web/**/*.js",
            "bin/plugin": "target/release/plugin",
            "admin/assets": "assets",
            "top.css": "./web/lib/style.css",
            "generated": "gen/*.txt",
        }),
    );
    build(p, &m).unwrap();
    let dist = p.join("dist");
    assert_eq!(
        files(&dist),
        [
            "admin/assets/img/logo.svg",
            "admin/assets/readme.txt",
            "bin/plugin",
            "generated/out.txt",
            "manifest.json",
            "static/app.js",
            "static/lib/util.js",
            "top.css",
        ]
    );
    let mode = |rel: &str| fs::metadata(dist.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("bin/plugin") & 0o111, 0o111);
    assert_eq!(mode("static/app.js") & 0o111, 0);
    assert_eq!(
        fs::read_to_string(dist.join("generated/out.txt")).unwrap(),
        "generated\n"
    );
    assert_eq!(
        fs::read_to_string(dist.join("manifest.json")).unwrap(),
        m.to_dist_json()
    );
    assert_eq!(root_names(p), ["assets", "dist", "gen", "target", "web"]);
}

#[test]
fn a_rebuild_replaces_dist_and_never_copies_dist_into_itself() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    write(&p.join("a.txt"), "a", 0o644);
    write(&p.join("b.txt"), "b", 0o644);
    build(p, &manifest(None, json!({ ".": "**/*.txt" }))).unwrap();
    assert_eq!(files(&p.join("dist")), ["a.txt", "b.txt", "manifest.json"]);
    build(p, &manifest(None, json!({ ".": "**/*.txt" }))).unwrap();
    assert_eq!(files(&p.join("dist")), ["a.txt", "b.txt", "manifest.json"]);

    fs::remove_file(p.join("a.txt")).unwrap();
    build(p, &manifest(None, json!({ "only-b.txt": "b.txt" }))).unwrap();
    assert_eq!(files(&p.join("dist")), ["manifest.json", "only-b.txt"]);
    assert_eq!(root_names(p), ["b.txt", "dist"]);

    // A build that fails while copying leaves the previous dist as it was.
    let err = build(p, &manifest(None, json!({ "x": "missing/*.js" }))).unwrap_err();
    assert!(
        matches!(err, BundleError::NoMatch { ref pattern } if pattern == "missing/*.js"),
        "{err:?}"
    );
    assert_eq!(files(&p.join("dist")), ["manifest.json", "only-b.txt"]);
    assert_eq!(root_names(p), ["b.txt", "dist"]);
}

#[test]
fn sources_that_match_nothing_are_named() {
    let project = tempfile::tempdir().unwrap();
    write(&project.path().join("web/a.css"), "a", 0o644);
    for source in ["nothing.txt", "web/*.js", "web/**/*.png"] {
        let err = build(project.path(), &manifest(None, json!({ "x": source }))).unwrap_err();
        assert!(
            matches!(err, BundleError::NoMatch { ref pattern } if pattern == source),
            "{source}: {err:?}"
        );
    }
}

#[test]
fn sources_outside_the_project_and_bad_dist_paths_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let p = outer.path().join("project");
    write(&outer.path().join("secret.txt"), "secret", 0o644);
    write(&p.join("ok.txt"), "ok", 0o644);
    std::os::unix::fs::symlink("../secret.txt", p.join("sneaky.txt")).unwrap();

    for source in ["../secret.txt", "/etc/hostname", "sneaky.txt", "*.txt"] {
        let err = build(&p, &manifest(None, json!({ "x": source }))).unwrap_err();
        assert!(
            matches!(err, BundleError::SourceOutsideProject { .. }),
            "{source}: {err:?}"
        );
    }
    for dist_path in ["../x", "/abs", "a/../../x", ".pxp/checksums.json"] {
        let err = build(&p, &manifest(None, json!({ dist_path: "ok.txt" }))).unwrap_err();
        assert!(
            matches!(err, BundleError::BadDistPath { .. }),
            "{dist_path}: {err:?}"
        );
    }
    let err = build(&p, &manifest(None, json!({ "manifest.json": "ok.txt" }))).unwrap_err();
    assert!(
        matches!(err, BundleError::DistConflict { ref path } if path == "manifest.json"),
        "{err:?}"
    );
    let err = build(&p, &manifest(None, json!({ "x": "[oops" }))).unwrap_err();
    assert!(matches!(err, BundleError::BadGlob { .. }), "{err:?}");
    assert!(!p.join("dist").exists());
    assert_eq!(root_names(&p), ["ok.txt", "sneaky.txt"]);
}

#[test]
fn a_built_dist_packs_and_unpacks() {
    let project = tempfile::tempdir().unwrap();
    write(
        &project.path().join("bin/run"),
        "#!/bin/sh\necho hi\n",
        0o755,
    );
    let m = manifest(None, json!({ "bin/run": "bin/run" }));
    build(project.path(), &m).unwrap();
    let mut bundle = Vec::new();
    let packed = px_bundle::pack(&project.path().join("dist"), &mut bundle).unwrap();
    let staging = tempfile::tempdir().unwrap();
    let unpacked =
        px_bundle::unpack(&mut bundle.as_slice(), staging.path(), &Default::default()).unwrap();
    assert_eq!(packed, unpacked);
    let mode = fs::metadata(staging.path().join("bin/run"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

/// A PowerX-shaped project: plugin.yaml naming a backend, a Nuxt admin
/// process with its static fallback, migrations, and a config directory.
const PLUGIN_YAML: &str = "\
id: com.example.powerx
name: PowerX shaped
version: 0.1.0
runtime:
  kind: process
  entry: backend/bin/plugin
endpoints:
  http_base_path: /api/v1
frontend:
  admin:
    kind: process
    process:
      entry: node
      args: [\"./web-admin/.output/server/index.mjs\"]
    static_dir: web-admin/.output/public
migrations:
  entry: backend/bin/migrate
  args: [setup]
  workdir: ./backend/migrations
";

fn powerx_project(project: &Path) {
    write(&project.join("plugin.yaml"), PLUGIN_YAML, 0o644);
    write(&project.join("backend/bin/plugin"), "#!/bin/sh\n", 0o755);
    write(&project.join("backend/bin/migrate"), "#!/bin/sh\n", 0o755);
    write(
        &project.join("backend/cmd/plugin/main.go"),
        "package main\n",
        0o644,
    );
    write(
        &project.join("web-admin/.output/server/index.mjs"),
        "//\n",
        0o644,
    );
    write(
        &project.join("web-admin/.output/public/index.html"),
        "<p>",
        0o644,
    );
    write(&project.join("web-admin/app.vue"), "<template/>", 0o644);
    write(&project.join("config/app.yaml"), "a: 1\n", 0o644);
    write(&project.join("README.md"), "# readme\n", 0o644);
}

#[test]
fn a_plugin_yaml_project_gets_exactly_what_its_descriptor_names() {
    let project = tempfile::tempdir().unwrap();
    powerx_project(project.path());
    let loaded = px_manifest::load_dir(project.path()).unwrap();
    let named = px_bundle::descriptor_files(project.path(), &loaded.manifest).unwrap();
    let paths: Vec<(&str, &str, bool)> = named
        .copies
        .iter()
        .map(|n| (n.path.as_str(), n.key.as_str(), n.dir))
        .collect();
    assert_eq!(
        paths,
        [
            ("backend/bin/migrate", "migrations.entry", false),
            ("backend/bin/plugin", "runtime.entry", false),
            ("config", "config/", true),
            ("web-admin/.output", "frontend.admin.process.args[0]", true),
        ]
    );
    assert_eq!(named.dirs, ["backend/migrations"]);

    let dist = px_bundle::build_project(project.path(), &loaded, &mut |_| {}).unwrap();
    assert_eq!(
        files(&dist),
        [
            "backend/bin/migrate",
            "backend/bin/plugin",
            "config/app.yaml",
            "manifest.json",
            "web-admin/.output/public/index.html",
            "web-admin/.output/server/index.mjs",
        ]
    );
    assert!(dist.join("backend/migrations").is_dir());
    let mode = fs::metadata(dist.join("backend/bin/plugin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the exec bit is kept");
    // dist/ is a manifest.json project Core reads as the same model
    let reread = px_manifest::load_dir(&dist).unwrap();
    assert_eq!(reread.manifest, loaded.manifest);
    assert!(!px_bundle::installs_as_is(&loaded));
}

#[test]
fn a_missing_named_path_says_which_key_and_how_to_build_it() {
    let project = tempfile::tempdir().unwrap();
    powerx_project(project.path());
    let loaded = px_manifest::load_dir(project.path()).unwrap();
    px_bundle::build_project(project.path(), &loaded, &mut |_| {}).unwrap();
    let before = files(&project.path().join("dist"));

    fs::remove_file(project.path().join("backend/bin/plugin")).unwrap();
    let err = px_bundle::build_project(project.path(), &loaded, &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "runtime.entry backend/bin/plugin does not exist: build the backend first \
         (go build -o backend/bin/plugin ./backend/cmd/plugin)"
    );
    assert_eq!(files(&project.path().join("dist")), before, "old dist kept");

    write(
        &project.path().join("backend/bin/plugin"),
        "#!/bin/sh\n",
        0o755,
    );
    fs::remove_dir_all(project.path().join("web-admin/.output")).unwrap();
    let err = px_bundle::build_project(project.path(), &loaded, &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frontend.admin.process.args[0] web-admin/.output does not exist: \
         build the admin first (npm run build in web-admin)"
    );
}

#[test]
fn a_manifest_json_project_without_build_is_installed_as_it_is() {
    let project = tempfile::tempdir().unwrap();
    let text = serde_json::to_string(&json!({
        "manifest_version": 1,
        "id": "com.example.asis",
        "name": "As is",
        "version": "0.1.0",
        "runtime": { "kind": "process", "entry": "bin/run" },
    }))
    .unwrap();
    write(&project.path().join("manifest.json"), &text, 0o644);
    write(&project.path().join("bin/run"), "#!/bin/sh\n", 0o755);
    let loaded = px_manifest::load_dir(project.path()).unwrap();
    assert!(px_bundle::installs_as_is(&loaded));
    let dist = px_bundle::build_project(project.path(), &loaded, &mut |_| {}).unwrap();
    assert_eq!(files(&dist), ["manifest.json"]);
}
