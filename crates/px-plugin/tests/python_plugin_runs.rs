//! The python template is a working plugin: built, started with `PORT`, it
//! answers `/healthz` and `/hello`, logs each request, and stops on SIGTERM.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{new_project, px_plugin};

/// Kills the plugin if the test fails before stopping it.
struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over a raw socket; returns (status code, body).
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Waits for a line containing `needle` from the plugin's stdout.
fn expect_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no stdout line containing {needle:?}");
}

#[test]
fn built_python_plugin_serves_logs_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    new_project(tmp.path(), "hello", "python");
    px_plugin(tmp.path())
        .args(["build", "hello"])
        .assert()
        .success();

    let port = free_port();
    let mut child = Command::new("python3")
        .arg("dist/server.py")
        .current_dir(tmp.path().join("hello"))
        .env("PORT", port.to_string())
        .env("PX_PLUGIN_BASE_PATH", "/_p/com.example.hello")
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed to run the python template");
    let stdout = child.stdout.take().unwrap();
    let plugin = Plugin(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let startup = expect_line(&lines, "listening on");
    assert!(startup.contains(&format!("127.0.0.1:{port}")), "{startup}");
    let (status, body) = get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    expect_line(&lines, "GET /healthz 200");

    let (status, body) = get(port, "/hello?who=test").unwrap();
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["message"], "hello from com.example.hello");
    assert_eq!(body["version"], "0.1.0");
    expect_line(&lines, "GET /hello?who=test 200");

    let (status, _) = get(port, "/nope").unwrap();
    assert_eq!(status, 404);

    let pid = plugin.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    expect_line(&lines, "received SIGTERM");
    let mut plugin = plugin;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = plugin.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "plugin did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "plugin exited with {status} on SIGTERM");
}
