//! The CLI's contract: exit codes, error output, `--json`, `--help`, colors.

mod common;

use common::{json_stdout, new_project, px_plugin, stderr, stdout};
use predicates::prelude::*;

/// A python project whose manifest has a relative health path on a known line.
fn broken_project(cwd: &std::path::Path) -> usize {
    new_project(cwd, "broken", "python");
    let path = cwd.join("broken/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(r#""path": "/healthz""#, r#""path": "healthz""#);
    let line = text
        .lines()
        .position(|line| line.contains(r#""healthz""#))
        .unwrap()
        + 1;
    std::fs::write(&path, text).unwrap();
    line
}

#[test]
fn broken_manifest_fails_with_exit_1_naming_pointer_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let line = broken_project(tmp.path());

    let output = px_plugin(tmp.path())
        .args(["validate", "broken"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let fault = err
        .lines()
        .find(|l| l.contains("/runtime/health/path"))
        .unwrap_or_else(|| panic!("no pointer in: {err}"));
    let prefix = format!("broken/manifest.json:{line}:");
    assert!(
        fault.starts_with(&prefix),
        "expected {prefix}<column>: …, got {fault}"
    );
    let column = fault[prefix.len()..].split(':').next().unwrap();
    assert!(column.parse::<usize>().unwrap() > 0, "{fault}");
    assert!(fault.contains(": error: /runtime/health/path: "), "{fault}");
    assert!(
        err.contains("error: broken/manifest.json is invalid: 1 error"),
        "{err}"
    );
    assert_eq!(stdout(&output), "");

    // `build` refuses it the same way and builds nothing.
    let output = px_plugin(tmp.path())
        .args(["build", "broken", "--pxp"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/runtime/health/path"));
    assert!(!tmp.path().join("broken/dist").exists());
}

#[test]
fn every_fault_is_reported_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    broken_project(tmp.path());
    let path = tmp.path().join("broken/manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#""version": "0.1.0""#, r#""version": "one""#);
    std::fs::write(&path, text).unwrap();

    let output = px_plugin(tmp.path())
        .args(["validate", "broken"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("/runtime/health/path") && err.contains("/version"),
        "{err}"
    );
}

#[test]
fn json_output_parses_for_each_command_and_option_position() {
    let tmp = tempfile::tempdir().unwrap();
    let output = px_plugin(tmp.path())
        .args(["new", "hello", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let created = json_stdout(&output);
    assert_eq!(created["plugin_id"], "com.example.hello");
    assert_eq!(created["template"], "python");

    for args in [
        ["--json", "validate", "hello"],
        ["validate", "hello", "--json"],
    ] {
        let output = px_plugin(tmp.path()).args(args).output().unwrap();
        assert!(output.status.success());
        let report = json_stdout(&output);
        assert_eq!(report["ok"], true);
        assert_eq!(report["plugin_id"], "com.example.hello");
        assert_eq!(report["version"], "0.1.0");
        assert!(report["diagnostics"].is_array());
    }

    let output = px_plugin(tmp.path())
        .args(["build", "hello", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let built = json_stdout(&output);
    assert_eq!(built["pxp"], serde_json::Value::Null);
    for key in ["dist", "digest", "files", "bytes", "duration_ms"] {
        assert!(!built[key].is_null(), "{key} missing: {built}");
    }
}

#[test]
fn json_failures_are_json_too() {
    let tmp = tempfile::tempdir().unwrap();
    let line = broken_project(tmp.path());
    let output = px_plugin(tmp.path())
        .args(["validate", "broken", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = json_stdout(&output);
    assert_eq!(report["ok"], false);
    assert_eq!(report["plugin_id"], "com.example.broken");
    let fault = &report["diagnostics"][0];
    assert_eq!(fault["pointer"], "/runtime/health/path");
    assert_eq!(fault["severity"], "error");
    assert_eq!(fault["line"], line);

    // An error without its own report still gives one JSON object.
    let output = px_plugin(tmp.path())
        .args(["--json", "validate", "missing"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = json_stdout(&output);
    assert_eq!(report["ok"], false);
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no manifest.json"),
        "{report}"
    );
    assert_eq!(report["error"]["exit_code"], 1);
}

#[test]
fn json_failure_of_a_plugin_yaml_names_its_id_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("powerx");
    std::fs::create_dir(&dir).unwrap();
    let yaml = "id: com.example.plugins.refused\nname: Refused\nversion: 0.3.0\nruntime:\n  entry: backend/bin/plugin\n  health:\n    http: healthz\n";
    std::fs::write(dir.join("plugin.yaml"), yaml).unwrap();
    let output = px_plugin(tmp.path())
        .args(["--json", "validate", "powerx"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_stdout(&output);
    assert_eq!(report["ok"], false);
    assert_eq!(report["plugin_id"], "com.example.plugins.refused");
    assert_eq!(report["version"], "0.3.0");
    assert_eq!(report["diagnostics"][0]["pointer"], "/runtime/health/http");
    assert_eq!(report["diagnostics"][0]["line"], 7);
}

#[test]
fn errors_print_their_causes() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "hello", "static");
    let output = px_plugin(tmp.path())
        .args(["build", "hello", "--out", "no/such/dir/x.pxp"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: packing hello/dist into no/such/dir/x.pxp\n"),
        "{err}"
    );
    assert!(err.contains("\n  caused by: "), "{err}");
    assert!(!tmp.path().join("hello/no").exists());
}

#[test]
fn new_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/notes.txt"), "mine").unwrap();
    px_plugin(tmp.path())
        .args(["new", "taken", "--template", "static"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "taken already exists and is not empty",
        ));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("taken/notes.txt")).unwrap(),
        "mine"
    );
    assert!(!tmp.path().join("taken/manifest.json").exists());

    // An existing empty directory is fine.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    px_plugin(tmp.path())
        .args(["new", "empty"])
        .assert()
        .success();
}

#[test]
fn new_names_the_plugin_after_the_directory_unless_told() {
    let tmp = tempfile::tempdir().unwrap();
    let output = px_plugin(tmp.path())
        .args(["new", "team-board", "--template", "static"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let out = stdout(&output);
    assert!(
        out.contains("created com.example.team-board (static template) in team-board"),
        "{out}"
    );
    assert!(
        out.contains("px-plugin validate team-board")
            && out.contains("px-plugin build team-board --pxp"),
        "{out}"
    );
    assert!(out.contains("px-plugin dev team-board --watch"), "{out}");
    let manifest = std::fs::read_to_string(tmp.path().join("team-board/manifest.json")).unwrap();
    assert!(manifest.contains(r#""name": "Team Board""#), "{manifest}");

    px_plugin(tmp.path())
        .args(["new", "x", "--id", "com.acme.billing"])
        .assert()
        .success();
    let manifest = std::fs::read_to_string(tmp.path().join("x/manifest.json")).unwrap();
    assert!(
        manifest.contains(r#""id": "com.acme.billing""#),
        "{manifest}"
    );

    // A bad id is a usage error and writes nothing.
    px_plugin(tmp.path())
        .args(["new", "y", "--id", "Not An Id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/id"));
    assert!(!tmp.path().join("y").exists());
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    px_plugin(tmp.path())
        .args(["validate", "--no-such-flag"])
        .assert()
        .code(2);
    px_plugin(tmp.path())
        .args(["new", "x", "--template", "cobol"])
        .assert()
        .code(2);
    px_plugin(tmp.path())
        .args(["--core", "not-a-url", "validate"])
        .assert()
        .code(2);
    px_plugin(tmp.path()).assert().code(2);
    // a directory that is not there is named as such, not as a missing manifest
    let missing = px_plugin(tmp.path())
        .args(["install", "nodir"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("nodir does not exist"), "{said}");
}

#[test]
fn help_teaches_with_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let top = px_plugin(tmp.path()).arg("--help").output().unwrap();
    assert!(top.status.success());
    let top = stdout(&top);
    for needle in [
        "Examples:",
        "px-plugin new hello --template python",
        "--core <URL>",
        "PX_CORE_URL",
        "--token",
        "--json",
        "Exit codes:",
    ] {
        assert!(
            top.contains(needle),
            "top-level help lacks {needle:?}:\n{top}"
        );
    }
    for (command, needles) in [
        (
            "new",
            &[
                "Examples:",
                "--template",
                "--id",
                "python",
                "rust",
                "static",
            ][..],
        ),
        (
            "validate",
            &["Examples:", "[DIR|FILE.pxp]", ".pxp", "file:line:column"][..],
        ),
        (
            "build",
            &["Examples:", "--pxp", "--out <FILE>", "byte-identical"][..],
        ),
    ] {
        let help = stdout(
            &px_plugin(tmp.path())
                .args([command, "--help"])
                .output()
                .unwrap(),
        );
        for needle in needles {
            assert!(
                help.contains(needle),
                "`{command} --help` lacks {needle:?}:\n{help}"
            );
        }
        assert!(
            help.contains("--json"),
            "`{command} --help` lacks the global --json"
        );
    }
}

#[test]
fn colors_only_when_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "hello", "static");
    let has_escape = |output: &std::process::Output| {
        output.stdout.contains(&0x1b) || output.stderr.contains(&0x1b)
    };

    // Piped: no colors.
    let piped = px_plugin(tmp.path())
        .args(["validate", "hello"])
        .output()
        .unwrap();
    assert!(!has_escape(&piped));
    // Forced on: colors (so this test can tell the difference) ...
    let forced = px_plugin(tmp.path())
        .args(["validate", "hello"])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(
        has_escape(&forced),
        "CLICOLOR_FORCE=1 gave no colors: {}",
        stdout(&forced)
    );
    // ... unless NO_COLOR says no.
    let no_color = px_plugin(tmp.path())
        .args(["validate", "hello"])
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        !has_escape(&no_color),
        "NO_COLOR ignored: {:?}",
        stdout(&no_color)
    );
    assert_eq!(stdout(&no_color), stdout(&piped));
}
