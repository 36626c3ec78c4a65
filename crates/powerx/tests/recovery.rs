//! Crash recovery with the real `powerx` binary: SIGKILL Core in the middle of
//! an install, start it again, and check that the stable revision serves, the
//! interrupted install is recorded, and nothing of the old Core survives.

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ID, plugin_processes, serve, stat, write_plugin};

mod common;

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_install_then_restart_serves_the_stable_revision_and_leaves_no_orphans() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let policy = work.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "dev:\n  allowed_dirs: [\"{}\"]\n  probation_ms: 200\n  health_timeout_ms: 20000\n",
            work.path().display()
        ),
    )
    .unwrap();
    let plugin = work.path().join("hello");
    let client = reqwest::Client::new();

    let mut core = serve(
        data.path(),
        &["--dev", "--policy", policy.to_str().unwrap()],
    );
    let token = common::admin_token(data.path());
    let install = |url: String| {
        let client = client.clone();
        let token = token.clone();
        let body = serde_json::json!({"source": {"kind": "dir", "path": plugin}});
        async move {
            client
                .post(format!("{url}/api/plugins/dev/install"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
        }
    };

    // v1 is stable; it runs a helper process that PR_SET_PDEATHSIG does not cover
    write_plugin(&plugin, "1.0.0", "fork_child");
    let response = install(core.url.clone()).await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    wait_for("v1 and its helper", Duration::from_secs(5), || {
        plugin_processes(data.path()).len() == 2
    });

    // v2 never becomes healthy; kill Core while it waits for it
    write_plugin(&plugin, "2.0.0", "never_listen");
    let pending = tokio::spawn(install(core.url.clone()));
    wait_for("v2 to start", Duration::from_secs(5), || {
        plugin_processes(data.path()).len() >= 3
    });
    core.child.kill().unwrap();
    core.child.wait().unwrap();
    assert!(
        pending.await.unwrap().is_err(),
        "the install answered although Core was killed"
    );
    // the helper outlives the killed Core: this is what recovery must clean up
    assert!(!plugin_processes(data.path()).is_empty());

    let mut core = serve(
        data.path(),
        &["--dev", "--policy", policy.to_str().unwrap()],
    );
    let started = stat(core.child.id()).unwrap().1;
    let deadline = Instant::now() + Duration::from_secs(10);
    let body: serde_json::Value = loop {
        let response = client
            .get(format!("{}/_p/{ID}/api/hello", core.url))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "stable revision never came back");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["revision"], 1);

    // only the new Core's processes are left: v1 again and its new helper
    wait_for("leftovers to be killed", Duration::from_secs(5), || {
        let now = plugin_processes(data.path());
        now.len() == 2 && now.iter().all(|(_, start)| *start >= started)
    });
    assert_eq!(
        std::fs::read_dir(data.path().join("staging"))
            .unwrap()
            .count(),
        0
    );

    let detail: serde_json::Value = client
        .get(format!("{}/api/plugins/{ID}", core.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["stable_revision"], 1);
    let revision2 = detail["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["revision"] == 2)
        .unwrap()
        .clone();
    assert_eq!(revision2["status"], "rolled_back");
    assert_eq!(revision2["reason"]["code"], "interrupted");

    // a graceful stop takes the plugin processes with it
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(core.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = core.child.wait().unwrap();
    assert!(exit.success(), "powerx exited with {exit}");
    wait_for("plugins to stop with Core", Duration::from_secs(5), || {
        plugin_processes(data.path()).is_empty()
    });
}
