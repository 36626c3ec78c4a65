//! Helpers shared by the tests that run the real `powerx` binary: start a
//! Core on port 0, write a hello-python plugin, find its processes in `/proc`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Id of the example plugin.
pub const ID: &str = "com.example.hello";

/// A running `powerx serve`; killed when dropped.
pub struct Powerx {
    pub child: Child,
    pub url: String,
}

impl Drop for Powerx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `powerx serve --listen 127.0.0.1:0 --data-dir <data> <extra…>` and
/// waits for its `listening on` line.
pub fn serve(data: &Path, extra: &[&str]) -> Powerx {
    let mut command = Command::new(env!("CARGO_BIN_EXE_powerx"));
    command.env("PX_LOG", "warn");
    serve_with(command, data, extra)
}

/// [`serve`] with `command` prepared by the caller (environment, stderr).
pub fn serve_with(mut command: Command, data: &Path, extra: &[&str]) -> Powerx {
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env_remove("PX_PLUGIN_DEV_MODE")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("powerx exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    // keep draining stdout so Core never blocks on it
    std::thread::spawn(move || for _ in lines {});
    Powerx { child, url }
}

/// A token for the first user (`admin`) of the store in `data`.
pub fn admin_token(data: &Path) -> String {
    admin_token_of(&["--data-dir", data.to_str().unwrap()])
}

/// A token for the first user (`admin`), from `powerx tokens create <store…>`
/// (`--data-dir DIR` or `--database-url URL`).
pub fn admin_token_of(store: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_powerx"))
        .args(["tokens", "create", "--user", "admin"])
        .args(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Writes a `dist/`-like copy of hello-python into `dir` with `version` and
/// `runtime.env.HELLO_MODE = mode`.
pub fn write_plugin(dir: &Path, version: &str, mode: &str) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/hello-python");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("admin")).unwrap();
    std::fs::copy(example.join("server.py"), dir.join("server.py")).unwrap();
    std::fs::copy(
        example.join("admin/index.html"),
        dir.join("admin/index.html"),
    )
    .unwrap();
    let text = std::fs::read_to_string(example.join("manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest.as_object_mut().unwrap().remove("build");
    manifest["version"] = version.into();
    manifest["runtime"]["env"] = serde_json::json!({ "HELLO_MODE": mode });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

/// (pid, start time) of live processes whose environment names plugin [`ID`]
/// with a data directory inside `data`.
pub fn plugin_processes(data: &Path) -> Vec<(u32, u64)> {
    let id = format!("PX_PLUGIN_ID={ID}");
    let dir = format!("PX_PLUGIN_DATA_DIR={}", data.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((state, start)) = stat(pid) else {
            continue;
        };
        if state == 'Z' {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let vars: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        if vars.contains(&id) && vars.iter().any(|v| v.starts_with(&dir)) {
            found.push((pid, start));
        }
    }
    found
}

/// State letter and start time (clock ticks since boot) of a process.
pub fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}
