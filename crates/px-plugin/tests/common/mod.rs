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

/// The plugin id of [`powerx_project`].
pub const POWERX_ID: &str = "com.example.pxyaml";

/// A small PowerX plugin project as it is: `plugin.yaml` without a `build`
/// section, a Python backend at `backend/bin/plugin` that listens on
/// `POWERX_HTTP_ADDR` (else `127.0.0.1:$PORT`) and answers every path with
/// `pxyaml <version> at <path>`, a `config/` directory, and files no
/// descriptor key names (sources, a README).
pub fn powerx_project(dir: &Path, version: &str) {
    let write = |rel: &str, text: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write(
        "plugin.yaml",
        &format!(
            "id: {POWERX_ID}\n\
             name: PowerX yaml\n\
             version: {version}\n\
             runtime:\n  kind: process\n  entry: backend/bin/plugin\n\
             \x20 health:\n    http: /healthz\n    timeout: 3s\n\
             endpoints:\n  http_base_path: /api/v1\n"
        ),
        0o644,
    );
    write(
        "backend/bin/plugin",
        &format!(
            r#"#!/usr/bin/env python3
import http.server, os
addr = os.environ.get("POWERX_HTTP_ADDR") or "127.0.0.1:" + os.environ["PORT"]
host, port = addr.rsplit(":", 1)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = "pxyaml {version} at {{}}".format(self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler).serve_forever()
"#
        ),
        0o755,
    );
    write("backend/cmd/plugin/main.go", "package main\n", 0o644);
    write("config/plugin.yaml", "greeting: hi\n", 0o644);
    write("README.md", "# pxyaml\n", 0o644);
}

/// Sorted relative paths of the regular files under `dir`.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            rel.to_str().unwrap().to_owned()
        })
        .collect();
    out.sort();
    out
}
