//! Helpers shared by the CLI tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::Path;

use assert_cmd::Command;

/// `px-plugin` with a clean, color-free environment, run in `cwd`.
pub fn px_plugin(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("px-plugin").unwrap();
    cmd.current_dir(cwd);
    for var in [
        "PX_CORE_URL",
        "PX_TOKEN",
        "CLICOLOR_FORCE",
        "CLICOLOR",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `px-plugin new NAME --template TEMPLATE` in `cwd` and asserts it succeeded.
pub fn new_project(cwd: &Path, name: &str, template: &str) {
    px_plugin(cwd)
        .args(["new", name, "--template", template])
        .assert()
        .success();
}

/// stdout of a finished command as a string.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// stderr of a finished command as a string.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// stdout parsed as one JSON value.
pub fn json_stdout(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}", stdout(output)))
}
