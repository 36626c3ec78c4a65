//! A revision of two processes (SPEC §2.3, §3.3): a backend and an admin
//! process, each with its own port, health and logs, started, probed,
//! swapped and stopped together; a failure of either names it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Core, HELLO};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// The example plugin, with the same server also run as its admin process
/// (`HELLO_ROLE=admin`, `admin_mode` as its `HELLO_MODE`).
fn with_admin(admin_mode: &str) -> impl FnOnce(&mut Value) {
    let admin_mode = admin_mode.to_owned();
    move |m: &mut Value| {
        m["runtime"]["health"]["interval_ms"] = 100.into();
        m["admin"]["process"] = json!({
            "entry": "python3",
            "args": ["-u", "server.py"],
            "env": { "HELLO_ROLE": "admin", "HELLO_MODE": admin_mode },
            "health": { "path": "/healthz", "interval_ms": 100 }
        });
    }
}

async fn core() -> Core {
    let options = common::Options {
        probation_ms: 100,
        ..Default::default()
    };
    Core::start_configured(options, |config| {
        config.policy.dev.liveness.max_restarts = 50;
    })
    .await
}

/// The pid of the plugin's process whose `HELLO_ROLE` is `role` (the
/// backend has none).
fn pid_of(role: &str, data: &Path) -> Option<u32> {
    common::plugin_pids(HELLO, data).into_iter().find(|pid| {
        let env = common::environ(*pid);
        let named = env
            .iter()
            .find(|(k, _)| k == "HELLO_ROLE")
            .map(|(_, v)| v.as_str());
        named.unwrap_or("backend") == role
    })
}

async fn admin_page(core: &Core) -> (u16, Value) {
    let response = core
        .authed(core.client.get(format!("{}/_p/{HELLO}/admin/", core.url)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn events(core: &Core, name: &str) -> Vec<Value> {
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=1000"))
        .await;
    logs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["data"]["event"] == name)
        .map(|m| m["data"].clone())
        .collect()
}

async fn until_events(core: &Core, name: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = events(core, name).await;
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "no {count} × {name}: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn both_processes_serve_and_their_logs_say_which() {
    let core = core().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_admin(""));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let (status, admin) = admin_page(&core).await;
    assert_eq!(
        (status, admin["role"].as_str()),
        (200, Some("admin")),
        "{admin}"
    );
    // like PowerX, the admin server gets the full path and the prefix it is under
    assert_eq!(admin["path"], format!("/_p/{HELLO}/admin/"), "{admin}");
    assert_eq!(admin["prefix"], format!("/_p/{HELLO}/admin"), "{admin}");
    let response = core
        .authed(
            core.client
                .get(format!("{}/_p/{HELLO}/admin/headers", core.url)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers: Value = response.json().await.unwrap();
    assert_eq!(headers["x-forwarded-prefix"], format!("/_p/{HELLO}/admin"));
    let (status, api) = core.proxy(HELLO, "/").await;
    assert_eq!(status, 404, "the backend has no HELLO_ROLE: {api}");
    let (status, api) = core.proxy(HELLO, "/hello").await;
    assert_eq!(
        (status, api["version"].as_str()),
        (200, Some("1.0.0")),
        "{api}"
    );
    // each process's request log line is tagged with the process
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=1000"))
        .await;
    let tagged = |process: &str, line: &str| {
        logs["messages"].as_array().unwrap().iter().any(|m| {
            m["process"] == process && m["message"].as_str().unwrap_or("").starts_with(line)
        })
    };
    assert!(
        tagged("admin", &format!("GET /_p/{HELLO}/admin/ ")),
        "{logs}"
    );
    assert!(tagged("backend", "GET /hello "), "{logs}");
    assert!(!tagged("admin", "GET /hello "), "{logs}");
    // its health probe goes to the process directly, at its health path
    assert!(tagged("admin", "GET /healthz "), "{logs}");
    assert!(pid_of("admin", core.data.path()).is_some());
    assert!(pid_of("backend", core.data.path()).is_some());

    // uninstall ends both
    let url = format!("{}/api/plugins/dev/install?plugin_id={HELLO}", core.url);
    let response = core.authed(core.client.delete(&url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    common::eventually("both processes gone", Duration::from_secs(5), || {
        common::plugin_pids(HELLO, core.data.path()).is_empty()
    })
    .await;
}

#[tokio::test]
async fn killing_either_process_is_seen_restarted_and_named() {
    let core = core().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_admin(""));
    assert_eq!(core.install_dir(&dir).await.0, 200);

    for (round, role) in ["admin", "backend"].into_iter().enumerate() {
        let pid = pid_of(role, core.data.path()).expect("the process runs");
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let crashed = until_events(&core, "plugin.crashed", round + 1).await;
        let message = crashed[round]["reason"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{role} process: the process exited")),
            "{message}"
        );
        until_events(&core, "plugin.restarted", round + 1).await;
        let (status, admin) = admin_page(&core).await;
        assert_eq!((status, admin["role"].as_str()), (200, Some("admin")));
        let (status, _) = core.proxy(HELLO, "/hello").await;
        assert_eq!(status, 200);
        let again = pid_of(role, core.data.path()).expect("restarted");
        assert_ne!(again, pid);
    }
}

#[tokio::test]
async fn a_broken_admin_process_rolls_the_revision_back() {
    let core = core().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_admin(""));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let backend = pid_of("backend", core.data.path()).unwrap();

    let dir = core.plugin("hello", HELLO, "1.1.0", with_admin("exit"));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 502, "{report:?}");
    let reason = report.reason.expect("a reason");
    assert_eq!(reason.code.as_str(), "start_failed");
    assert!(
        reason.message.starts_with("admin process: "),
        "{}",
        reason.message
    );
    assert!(
        reason
            .log_tail
            .iter()
            .any(|l| l.contains("HELLO_MODE=exit")),
        "{:?}",
        reason.log_tail
    );
    // the stable revision still serves both, with the same backend
    let (status, admin) = admin_page(&core).await;
    assert_eq!((status, admin["version"].as_str()), (200, Some("1.0.0")));
    let (_, api) = core.proxy(HELLO, "/hello").await;
    assert_eq!(api["version"], "1.0.0");
    assert_eq!(pid_of("backend", core.data.path()), Some(backend));
    // and the new revision's backend did not outlive its failed admin process
    common::eventually("one backend", Duration::from_secs(5), || {
        common::plugin_pids(HELLO, core.data.path()).len() == 2
    })
    .await;
}

#[tokio::test]
async fn the_admin_pages_fall_back_to_static_files_while_the_process_is_down() {
    let options = common::Options {
        probation_ms: 100,
        ..Default::default()
    };
    // no restarts: one crash leaves the plugin down, in crash_loop
    let core = Core::start_configured(options, |config| {
        config.policy.dev.liveness.max_restarts = 0;
    })
    .await;
    let dir = core.plugin("hello", HELLO, "1.0.0", with_admin(""));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let pid = pid_of("admin", core.data.path()).unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    until_events(&core, "plugin.crash_loop", 1).await;
    let response = core
        .authed(core.client.get(format!("{}/_p/{HELLO}/admin/", core.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let index = std::fs::read_to_string(dir.join("admin/index.html")).unwrap();
    assert_eq!(
        text, index,
        "admin.static_dir serves while the process is down"
    );
    // with a single-page app's deep links
    let response = core
        .authed(
            core.client
                .get(format!("{}/_p/{HELLO}/admin/templates/crud", core.url)),
        )
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), index);
}
