//! Two `powerx serve` processes on one PostgreSQL database: SIGKILL one in
//! the middle of an install (holding the plugin's advisory lock), and the
//! other keeps serving, can still install the plugin, and the killed one
//! catches up when it comes back. Needs `PX_TEST_DATABASE_URL` (run through
//! `scripts/with-postgres`); fails without it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ID, Powerx, plugin_processes, write_plugin};

mod common;

fn server_url() -> String {
    std::env::var("PX_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("PX_TEST_DATABASE_URL is not set: run `scripts/with-postgres cargo test -p powerx`")
}

/// `CREATE DATABASE` through psql; returns the new database's URL and name.
fn create_db() -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("px_test_kill_{}_{nanos}", std::process::id());
    psql(&format!("CREATE DATABASE {name}"));
    let server = server_url();
    let base = server.rsplit_once('/').unwrap().0;
    (format!("{base}/{name}"), name)
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .arg(server_url())
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("running psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(data: &Path, policy: &Path, db: &str) -> Powerx {
    let policy = policy.to_str().unwrap();
    common::serve(data, &["--dev", "--policy", policy, "--database-url", db])
}

async fn revision_served(client: &reqwest::Client, core: &Powerx) -> Option<u64> {
    let response = client
        .get(format!("{}/_p/{ID}/api/hello", core.url))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json::<serde_json::Value>().await.ok()?["revision"].as_u64()
}

async fn wait_served(client: &reqwest::Client, core: &Powerx, revision: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while revision_served(client, core).await != Some(revision) {
        assert!(
            Instant::now() < deadline,
            "{} never served revision {revision}",
            core.url
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_killed_mid_install_leaves_the_other_serving_and_installing() {
    let (db, name) = create_db();
    let (data_a, data_b, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let policy = work.path().join("policy.yaml");
    let yaml = format!(
        "dev:\n  allowed_dirs: [\"{}\"]\n  probation_ms: 100\n  health_timeout_ms: 30000\n",
        work.path().display()
    );
    std::fs::write(&policy, yaml).unwrap();
    let mut a = start(data_a.path(), &policy, &db);
    let mut b = start(data_b.path(), &policy, &db);
    let token = common::admin_token_of(&["--database-url", &db]);
    let client = reqwest::Client::new();
    let plugin = work.path().join("hello");
    let install = |url: String| {
        let request = client
            .post(format!("{url}/api/plugins/dev/install"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"source": {"kind": "dir", "path": plugin}}));
        async move { request.send().await }
    };

    write_plugin(&plugin, "1.0.0", "normal");
    assert_eq!(install(a.url.clone()).await.unwrap().status(), 200);
    wait_served(&client, &b, 1, Duration::from_secs(2)).await;

    // revision 2 never gets healthy: A holds the plugin's lock while it waits
    write_plugin(&plugin, "2.0.0", "never_listen");
    let pending = tokio::spawn(install(a.url.clone()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while plugin_processes(data_a.path()).len() < 2 {
        assert!(Instant::now() < deadline, "revision 2 never started on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    assert!(
        pending.await.unwrap().is_err(),
        "A answered although killed"
    );

    for _ in 0..10 {
        assert_eq!(
            revision_served(&client, &b).await,
            Some(1),
            "B keeps serving"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // the dead Core's lock went with its connection: B installs at once
    write_plugin(&plugin, "3.0.0", "normal");
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(15), install(b.url.clone()))
        .await
        .expect("B's install waited for a dead Core's lock")
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["revision"], 3, "{report:#}");
    eprintln!(
        "B installed revision 3 in {:?} after A was killed",
        started.elapsed()
    );
    assert_eq!(revision_served(&client, &b).await, Some(3));

    // A comes back: it records its interrupted install and runs revision 3
    let mut a = start(data_a.path(), &policy, &db);
    wait_served(&client, &a, 3, Duration::from_secs(10)).await;
    let detail: serde_json::Value = client
        .get(format!("{}/api/plugins/{ID}", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let two = detail["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["revision"] == 2)
        .unwrap();
    assert_eq!(two["reason"]["code"], "interrupted", "{detail:#}");
    assert_eq!(detail["stable_revision"], 3);
    assert!(
        detail["last_reason"].is_null(),
        "the newer success stays the last word: {detail:#}"
    );

    for core in [&mut a, &mut b] {
        Command::new("kill")
            .arg("-TERM")
            .arg(core.child.id().to_string())
            .status()
            .unwrap();
        assert!(core.child.wait().unwrap().success());
    }
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
