//! Golden-file tests: every `tests/ui/*.json` and `*.yaml` is validated (with
//! `tests/ui` as the base directory), and so is every plugin directory
//! `tests/ui/<name>/` holding a `plugin.yaml` (with its own directory as the
//! base: catalogs, i18n files); the rendering is compared with the file of the
//! same name ending in `.err` (invalid) or `.out` (valid). `PX_BLESS=1`
//! rewrites them.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use px_manifest::{Loaded, ManifestError, Severity, load_dir, parse_json, parse_plugin_yaml};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

fn bless() -> bool {
    std::env::var_os("PX_BLESS").is_some_and(|v| v == "1")
}

/// The input files and plugin directories, sorted.
fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(ui_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.join("plugin.yaml").is_file()
                || path
                    .extension()
                    .is_some_and(|ext| ext == "json" || ext == "yaml")
        })
        .collect();
    cases.sort();
    cases
}

fn run(path: &Path) -> Result<Loaded, ManifestError> {
    if path.is_dir() {
        return load_dir(path);
    }
    let text = fs::read_to_string(path).unwrap();
    let name = Path::new(path.file_name().unwrap());
    if path.extension().unwrap() == "yaml" {
        parse_plugin_yaml(&text, name, Some(&ui_dir()))
    } else {
        parse_json(&text, name, Some(&ui_dir()))
    }
}

/// `("err" | "out", rendering)` for one case.
fn render(path: &Path) -> (&'static str, String) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let in_dir = format!("{name}/plugin.yaml");
    let file = if path.is_dir() { &in_dir } else { name };
    match run(path) {
        Err(ManifestError::Invalid { diagnostics, .. }) => (
            "err",
            diagnostics.iter().map(|d| d.render(file) + "\n").collect(),
        ),
        Err(other) => panic!("{file}: unexpected error {other}"),
        Ok(loaded) => {
            let mut out: String = loaded
                .warnings
                .iter()
                .map(|d| d.render(file) + "\n")
                .collect();
            out.push_str("--- dist/manifest.json\n");
            out.push_str(&loaded.manifest.to_dist_json());
            ("out", out)
        }
    }
}

#[test]
fn golden_files() {
    let mut failures = Vec::new();
    for path in cases() {
        let (kind, actual) = render(&path);
        let expected_path = path.with_extension(kind);
        let other_path = path.with_extension(if kind == "err" { "out" } else { "err" });
        if bless() {
            fs::write(&expected_path, &actual).unwrap();
            let _ = fs::remove_file(&other_path);
            continue;
        }
        if other_path.exists() {
            failures.push(format!(
                "{}: expected {}, got {kind}:\n{actual}",
                path.display(),
                other_path.display()
            ));
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (PX_BLESS=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The numbered invalid manifests each hold exactly one fault, and no two are alike.
#[test]
fn numbered_cases_are_distinct_single_faults() {
    let mut seen = HashSet::new();
    let mut count = 0;
    for path in cases() {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let Err(ManifestError::Invalid { diagnostics, .. }) = run(&path) else {
            panic!("{name} is valid")
        };
        let errors: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{name} should have one fault: {errors:#?}");
        assert!(
            seen.insert((errors[0].pointer.clone(), errors[0].message.clone())),
            "{name} repeats another case"
        );
        count += 1;
    }
    assert!(count >= 25, "only {count} invalid cases");
}

#[test]
fn multi_fault_manifest_reports_every_fault_at_once() {
    let Err(ManifestError::Invalid { diagnostics, .. }) = run(&ui_dir().join("multi-faults.json"))
    else {
        panic!("valid")
    };
    let pointers: HashSet<&str> = diagnostics.iter().map(|d| d.pointer.as_str()).collect();
    for expected in [
        "/manifest_version",
        "/id",
        "/name",
        "/version",
        "/extra",
        "/dependencies/com.acme.dep",
        "/dependencies/x",
        "/runtime/entry",
        "/runtime/health/path",
        "/runtime/health/timeout_ms",
        "/runtime/http_base_path",
        "/admin/static_dir",
        "/admin/menus/0/permission",
        "/admin/menus/1/id",
        "/admin/menus/1/title",
        "/admin/menus/1/path",
        "/permissions/1/key",
        "/permissions/2/key",
        "/build/files/~1etc~1passwd",
    ] {
        assert!(
            pointers.contains(expected),
            "no diagnostic at {expected}: {diagnostics:#?}"
        );
    }
    let mut lines: Vec<_> = diagnostics.iter().map(|d| (d.line, d.column)).collect();
    assert!(lines.is_sorted(), "diagnostics are not in file order");
    lines.dedup();
    assert!(
        lines.len() >= 18,
        "faults should have their own positions: {lines:?}"
    );
}
