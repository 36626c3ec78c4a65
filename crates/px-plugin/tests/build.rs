//! `build` streams the build command's output, and reports its failure.

mod common;

use common::{json_stdout, new_project, px_plugin, stderr, stdout};

/// A static project whose manifest's `build.command` is `command`.
fn project_with_command(cwd: &std::path::Path, command: &str) {
    new_project(cwd, "site", "static");
    let path = cwd.join("site/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["build"]["command"] = command.into();
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn build_output_is_streamed_to_stderr_with_a_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    project_with_command(tmp.path(), "echo compiled-ok && echo careful-now >&2");

    let output = px_plugin(tmp.path())
        .args(["build", "site"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("  │ compiled-ok\n"), "{err}");
    assert!(err.contains("  │ careful-now\n"), "{err}");
    assert!(!stdout(&output).contains("compiled-ok"));

    // With --json the output still streams on stderr and stdout stays one JSON object.
    let output = px_plugin(tmp.path())
        .args(["build", "site", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(json_stdout(&output)["ok"], true);
    assert!(stderr(&output).contains("│ compiled-ok"));
}

#[test]
fn failing_build_command_exits_1_and_keeps_its_output() {
    let tmp = tempfile::tempdir().unwrap();
    project_with_command(tmp.path(), "echo cannot-compile >&2; exit 3");

    let output = px_plugin(tmp.path())
        .args(["build", "site", "--pxp"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("│ cannot-compile"), "{err}");
    assert!(
        err.contains("error: building dist/ for com.example.site"),
        "{err}"
    );
    assert!(
        err.contains("caused by: build command `echo cannot-compile >&2; exit 3` failed"),
        "{err}"
    );
    assert!(!tmp.path().join("site/com.example.site-0.1.0.pxp").exists());
}

#[test]
fn powerx_plugin_yaml_validates_with_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crm");
    std::fs::create_dir_all(dir.join("admin")).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        "id: com.powerx.crm\nname: CRM\nversion: 2.3.1\nauthor: PowerX Team\nruntime:\n  kind: binary\n  entry: bin/crm\n  health:\n    http: /healthz\nfrontend:\n  admin:\n    static_dir: admin\n",
    )
    .unwrap();

    let output = px_plugin(tmp.path())
        .args(["validate", "crm"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "✓ com.powerx.crm 2.3.1 is valid\n");
    assert!(
        stderr(&output).contains("crm/plugin.yaml:4:1: warning: /author: "),
        "{}",
        stderr(&output)
    );

    let output = px_plugin(tmp.path())
        .args(["validate", "crm", "--json"])
        .output()
        .unwrap();
    let report = json_stdout(&output);
    assert_eq!(report["ok"], true);
    assert_eq!(report["diagnostics"][0]["pointer"], "/author");
    assert_eq!(report["diagnostics"][0]["severity"], "warning");
}

#[test]
fn validate_checks_a_built_pxp_like_core_would() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "site", "static");
    px_plugin(tmp.path())
        .args(["build", "site", "--out", "site.pxp"])
        .assert()
        .success();

    let output = px_plugin(tmp.path())
        .args(["validate", "site.pxp"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("✓ com.example.site 0.1.0 is valid\n  bundle  2 files"),
        "{out}"
    );

    let output = px_plugin(tmp.path())
        .args(["validate", "site.pxp", "--json"])
        .output()
        .unwrap();
    let report = json_stdout(&output);
    assert_eq!(report["bundle"]["files"], 2);
    assert_eq!(report["bundle"]["digest"].as_str().unwrap().len(), 64);

    // A damaged bundle is refused, exit 1.
    let bytes = std::fs::read(tmp.path().join("site.pxp")).unwrap();
    std::fs::write(tmp.path().join("cut.pxp"), &bytes[..bytes.len() / 2]).unwrap();
    let output = px_plugin(tmp.path())
        .args(["validate", "cut.pxp"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("error: cut.pxp is not a valid bundle: "),
        "{}",
        stderr(&output)
    );

    // A manifest file stands for its project.
    px_plugin(tmp.path())
        .args(["validate", "site/manifest.json"])
        .assert()
        .success();
}

#[test]
fn a_plugin_yaml_project_builds_exactly_the_files_it_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pxyaml");
    common::powerx_project(&dir, "0.1.0");

    let output = px_plugin(tmp.path())
        .args(["build", "pxyaml", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json_stdout(&output)["plugin_id"], common::POWERX_ID);
    assert_eq!(
        common::files_under(&dir.join("dist")),
        ["backend/bin/plugin", "config/plugin.yaml", "manifest.json"]
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dist/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["runtime"]["entry"], "backend/bin/plugin");
    assert_eq!(manifest["runtime"]["http_base_path"], "/api/v1");

    // the named backend missing: exit 1, the key, and how to build it
    std::fs::remove_file(dir.join("backend/bin/plugin")).unwrap();
    let output = px_plugin(tmp.path())
        .args(["build", "pxyaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(
            "runtime.entry backend/bin/plugin does not exist: build the backend first \
             (go build -o backend/bin/plugin ./backend/cmd/plugin)"
        ),
        "{err}"
    );
    assert!(
        dir.join("dist/backend/bin/plugin").is_file(),
        "the old dist/ stays"
    );
}
