//! Every template: `new`, then `validate`, then `build --pxp`, as a user would.

mod common;

use std::path::Path;

use common::{json_stdout, new_project, px_plugin, stdout};

/// Builds `dir` with `--pxp --json` and returns the parsed report.
fn build_pxp(cwd: &Path, dir: &str) -> serde_json::Value {
    let output = px_plugin(cwd)
        .args(["build", dir, "--pxp", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_stdout(&output)
}

fn assert_valid(cwd: &Path, dir: &str, id: &str) {
    let output = px_plugin(cwd).args(["validate", dir]).output().unwrap();
    assert!(
        output.status.success(),
        "validate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output), format!("✓ {id} 0.1.0 is valid\n"));
}

fn dist_manifest(cwd: &Path, dir: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(cwd.join(dir).join("dist/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn python_template_validates_and_builds_the_same_pxp_twice() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "hello", "python");
    assert_valid(tmp.path(), "hello", "com.example.hello");

    let report = build_pxp(tmp.path(), "hello");
    let pxp = tmp.path().join("hello/com.example.hello-0.1.0.pxp");
    assert_eq!(
        Path::new(report["pxp"].as_str().unwrap()),
        Path::new("hello/com.example.hello-0.1.0.pxp")
    );
    assert_eq!(
        report["files"], 3,
        "manifest.json, server.py, admin/index.html: {report}"
    );
    assert!(report["digest"].as_str().unwrap().len() == 64, "{report}");
    let first = std::fs::read(&pxp).unwrap();
    assert_eq!(report["pxp_bytes"].as_u64().unwrap(), first.len() as u64);

    let dist = tmp.path().join("hello/dist");
    assert!(dist.join("server.py").is_file());
    assert!(dist.join("admin/index.html").is_file());
    let manifest = dist_manifest(tmp.path(), "hello");
    assert_eq!(manifest["id"], "com.example.hello");
    assert!(
        manifest.get("build").is_none(),
        "dist/manifest.json keeps build: {manifest}"
    );
    // The built dist/ is itself a valid plugin.
    assert_valid(tmp.path(), "hello/dist", "com.example.hello");

    // Same sources, new mtimes: still the same bytes.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    for file in [
        "hello/server.py",
        "hello/admin/index.html",
        "hello/manifest.json",
    ] {
        std::fs::File::options()
            .write(true)
            .open(tmp.path().join(file))
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let again = build_pxp(tmp.path(), "hello");
    assert_eq!(again["digest"], report["digest"]);
    assert_eq!(
        std::fs::read(&pxp).unwrap(),
        first,
        "second build gave a different .pxp"
    );
}

#[test]
fn static_template_validates_and_builds() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "docs", "static");
    assert_valid(tmp.path(), "docs", "com.example.docs");

    let report = build_pxp(tmp.path(), "docs");
    assert!(
        tmp.path().join("docs/com.example.docs-0.1.0.pxp").is_file(),
        "{report}"
    );
    assert!(tmp.path().join("docs/dist/admin/index.html").is_file());
    assert_eq!(
        dist_manifest(tmp.path(), "docs")["runtime"]["kind"],
        "static"
    );
}

#[test]
fn rust_template_compiles_validates_and_builds() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "hello-rs", "rust");
    assert_valid(tmp.path(), "hello-rs", "com.example.hello-rs");

    let report = build_pxp(tmp.path(), "hello-rs");
    assert!(
        tmp.path()
            .join("hello-rs/com.example.hello-rs-0.1.0.pxp")
            .is_file(),
        "{report}"
    );
    let binary = tmp.path().join("hello-rs/dist/hello_rs");
    assert!(
        binary.is_file(),
        "cargo's binary was not copied into dist/: {report}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_ne!(
            std::fs::metadata(&binary).unwrap().permissions().mode() & 0o111,
            0,
            "binary lost its exec bit"
        );
    }
    assert_eq!(
        dist_manifest(tmp.path(), "hello-rs")["runtime"]["entry"],
        "hello_rs"
    );
}
