//! `load_dir`, `to_dist_json` and the rendering of diagnostics.

use std::fs;
use std::path::Path;

use px_manifest::{
    Diagnostic, Manifest, ManifestError, RuntimeKind, Severity, load_dir, parse_json,
};

const MINIMAL: &str = r#"{
  "manifest_version": 1,
  "id": "com.acme.hello",
  "name": "Hello",
  "version": "0.1.0",
  "runtime": { "kind": "process", "entry": "server.py" },
  "build": { "command": "true", "files": { "server.py": "src/server.py" } }
}
"#;

const YAML: &str = "id: com.powerx.yaml\nname: From YAML\nversion: 1.0.0\nruntime:\n  entry: run.sh\n  health:\n    retries: 5\n";

#[test]
fn load_dir_prefers_manifest_json_over_plugin_yaml() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("plugin.yaml"), YAML).unwrap();
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.path, dir.path().join("plugin.yaml"));
    assert_eq!(loaded.manifest.id, "com.powerx.yaml");
    assert_eq!(loaded.manifest.runtime.kind, RuntimeKind::Process);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!((loaded.warnings[0].line, loaded.warnings[0].column), (7, 5));
    assert_eq!(loaded.warnings[0].pointer, "/runtime/health/retries");
    assert_eq!(loaded.manifest.runtime.health.interval_ms, 10_000);

    fs::write(dir.path().join("manifest.json"), MINIMAL).unwrap();
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.path, dir.path().join("manifest.json"));
    assert_eq!(loaded.manifest.id, "com.acme.hello");
    assert!(loaded.warnings.is_empty());
}

#[test]
fn load_dir_without_manifest_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_dir(dir.path()).unwrap_err();
    assert!(
        matches!(&error, ManifestError::NotFound { dir: d } if d == dir.path()),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "no manifest.json or plugin.yaml in {}",
            dir.path().display()
        )
    );
}

#[test]
fn load_dir_checks_static_dir_against_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = MINIMAL.replace(
        r#""runtime""#,
        r#""admin": { "static_dir": "web" }, "runtime""#,
    );
    fs::write(dir.path().join("manifest.json"), &manifest).unwrap();
    let Err(ManifestError::Invalid { path, diagnostics }) = load_dir(dir.path()) else {
        panic!("valid")
    };
    assert_eq!(path, dir.path().join("manifest.json"));
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].pointer, "/admin/static_dir");
    fs::create_dir(dir.path().join("web")).unwrap();
    assert!(load_dir(dir.path()).is_ok());
    // Without a base directory, existence is not checked.
    assert!(parse_json(&manifest, Path::new("manifest.json"), None).is_ok());
}

#[test]
fn invalid_error_counts_errors_only() {
    let text = MINIMAL
        .replace("0.1.0", "x")
        .replace(r#""entry": "server.py""#, r#""entry": 3"#);
    let error = parse_json(&text, Path::new("m.json"), None).unwrap_err();
    assert_eq!(error.to_string(), "m.json has 2 error(s)");
}

#[test]
fn dist_json_drops_build_and_round_trips() {
    let loaded = parse_json(MINIMAL, Path::new("manifest.json"), None).unwrap();
    assert!(loaded.manifest.build.is_some());
    let dist = loaded.manifest.to_dist_json();
    assert!(dist.ends_with("}\n") && !dist.ends_with("\n\n"));
    assert!(dist.starts_with("{\n  \"manifest_version\": 1,\n"));
    assert!(!dist.contains("build"));
    let again: Manifest = serde_json::from_str(&dist).unwrap();
    assert_eq!(
        again,
        Manifest {
            build: None,
            ..loaded.manifest.clone()
        }
    );
    // The dist manifest is itself valid.
    assert!(parse_json(&dist, Path::new("dist/manifest.json"), None).is_ok());
}

#[test]
fn render_is_one_line_per_diagnostic() {
    let diagnostic = Diagnostic {
        severity: Severity::Warning,
        pointer: "/runtime/health/interval".to_owned(),
        line: 7,
        column: 5,
        message: "unused field \"interval\" is ignored".to_owned(),
    };
    assert_eq!(
        diagnostic.render("plugin.yaml"),
        "plugin.yaml:7:5: warning: /runtime/health/interval: unused field \"interval\" is ignored"
    );
    let root = Diagnostic {
        severity: Severity::Error,
        pointer: String::new(),
        ..diagnostic
    };
    assert!(
        root.render("m.json")
            .starts_with("m.json:7:5: error: (root): ")
    );
}
