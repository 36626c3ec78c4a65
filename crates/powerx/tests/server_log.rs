//! `powerx serve` says what happens to plugins: a line per lifecycle event
//! on its log (stderr), quiet with `--quiet`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

/// Starts `powerx serve --dev` (plus `extra`) with its log on a channel;
/// installs the example plugin (v1 good, v2 that exits) and returns the log
/// lines seen within `settle` of the second install.
async fn log_of_two_installs(extra: &[&str], settle: Duration) -> Vec<String> {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let policy = work.path().join("policy.yaml");
    let allowed = format!(
        "dev:\n  allowed_dirs: [\"{}\"]\n  probation_ms: 100\n",
        work.path().display()
    );
    std::fs::write(&policy, allowed).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_powerx"));
    command
        .env_remove("PX_LOG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped());
    let mut args = vec!["--dev", "--policy", policy.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut core = common::serve_with(command, data.path(), &args);
    let stderr = core.child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let token = common::admin_token(data.path());
    let plugin = work.path().join("hello");
    let client = reqwest::Client::new();
    for (version, mode) in [("1.0.0", ""), ("1.1.0", "exit")] {
        common::write_plugin(&plugin, version, mode);
        let body = serde_json::json!({"source": {"kind": "dir", "path": plugin}});
        client
            .post(format!("{}/api/plugins/dev/install", core.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + settle;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_a_line_per_lifecycle_event() {
    let seen = log_of_two_installs(&[], Duration::from_secs(2)).await;
    let has = |needle: &str| seen.iter().any(|l| l.contains(needle));
    assert!(
        has("com.example.hello install.started: installing com.example.hello 1.0.0"),
        "{seen:#?}"
    );
    assert!(
        has("com.example.hello r1 install.succeeded: revision 1 is live"),
        "{seen:#?}"
    );
    let rolled_back = seen
        .iter()
        .find(|l| l.contains("r2 install.rolled_back: start_failed"))
        .unwrap_or_else(|| panic!("no rollback line: {seen:#?}"));
    assert!(rolled_back.contains("ERROR"), "{rolled_back}");
    // phases are debug lines, not shown by default
    assert!(!has("install.phase"), "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_keeps_only_warnings_and_errors() {
    let seen = log_of_two_installs(&["--quiet"], Duration::from_secs(2)).await;
    let has = |needle: &str| seen.iter().any(|l| l.contains(needle));
    assert!(!has("install.succeeded"), "{seen:#?}");
    assert!(has("install.rolled_back"), "{seen:#?}");
}
