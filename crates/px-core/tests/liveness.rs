//! Liveness of stable revisions (SPEC §3.3): a revision that stops answering
//! its probes is restarted, a crash-looping one ends in `crash_loop` and is
//! left alone, and the next install clears that.

mod common;

use std::time::{Duration, Instant};

use common::{Core, HELLO, mode};
use serde_json::Value;

/// `health.interval_ms` of the test plugins.
const INTERVAL_MS: u64 = 100;

async fn liveness_core(max_restarts: u32) -> Core {
    let options = common::Options {
        probation_ms: 100,
        ..Default::default()
    };
    Core::start_configured(options, |config| {
        config.policy.dev.liveness.max_restarts = max_restarts;
    })
    .await
}

fn probed_every(interval_ms: u64, then: impl FnOnce(&mut Value)) -> impl FnOnce(&mut Value) {
    move |m: &mut Value| {
        then(m);
        m["runtime"]["health"]["interval_ms"] = interval_ms.into();
    }
}

/// Events of the plugin so far, as `(name, data)`.
async fn events(core: &Core) -> Vec<(String, Value)> {
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=1000"))
        .await;
    logs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| Some((m["data"]["event"].as_str()?.to_owned(), m["data"].clone())))
        .collect()
}

async fn detail_until(
    core: &Core,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, detail) = core.get(&format!("/api/plugins/{HELLO}")).await;
        if done(&detail) {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stable_revision_that_turns_unhealthy_is_restarted() {
    let core = liveness_core(50).await;
    let dir = core.plugin(
        "hello",
        HELLO,
        "1.0.0",
        probed_every(INTERVAL_MS, mode("unhealthy_after:700")),
    );
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let (status, _) = core.proxy(HELLO, "/hello").await;
    assert_eq!(status, 200);
    let detail = detail_until(
        &core,
        "restarted after failed probes",
        Duration::from_secs(15),
        |d| d["restarts"].as_u64().unwrap_or(0) >= 1,
    )
    .await;
    assert_eq!(detail["last_reason"]["code"], "unhealthy", "{detail}");
    let message = detail["last_reason"]["message"].as_str().unwrap();
    assert!(
        message.contains("GET /healthz answered 500") && message.contains("3 probes in a row"),
        "{message}"
    );
    let crashed: Vec<Value> = events(&core)
        .await
        .into_iter()
        .filter(|(name, _)| name == "plugin.crashed")
        .map(|(_, data)| data)
        .collect();
    assert!(!crashed.is_empty());
    assert_eq!(crashed[0]["reason"]["code"], "unhealthy");
    core.stop().await;
}

#[tokio::test]
async fn a_crash_loop_stops_being_restarted_until_the_next_install() {
    let core = liveness_core(2).await;
    let dir = core.plugin(
        "hello",
        HELLO,
        "1.0.0",
        probed_every(10_000, mode("crash_after:300")),
    );
    assert_eq!(core.install_dir(&dir).await.0, 200);
    // crash 1 → restart after 100 ms, crash 2 → 200 ms, crash 3 is one too many
    let detail = detail_until(&core, "crash_loop", Duration::from_secs(20), |d| {
        d["state"] == "crash_loop"
    })
    .await;
    assert_eq!(detail["restarts"], 2, "{detail}");
    assert_eq!(detail["last_reason"]["code"], "crashed", "{detail}");
    assert!(
        detail["last_reason"]["log_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("crashing after 300 ms")),
        "{detail}"
    );
    let all = events(&core).await;
    let waits: Vec<u64> = all
        .iter()
        .filter(|(name, _)| name == "plugin.crashed")
        .map(|(_, data)| data["retry_in_ms"].as_u64().unwrap())
        .collect();
    // the backoff grows with each crash although every restart was healthy
    assert_eq!(waits, [100, 200], "{all:?}");
    assert!(
        all.iter().any(|(name, _)| name == "plugin.crash_loop"),
        "{all:?}"
    );
    let (status, _) = core.proxy(HELLO, "/hello").await;
    assert_eq!(status, 503);

    // left alone: no further restart
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, later) = core.get(&format!("/api/plugins/{HELLO}")).await;
    assert_eq!(later["state"], "crash_loop");
    assert_eq!(later["restarts"], 2);
    assert!(common::plugin_pids(HELLO, core.data.path()).is_empty());

    // a new install leaves crash_loop
    common::write_plugin(&dir, HELLO, "1.0.1", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let (_, fixed) = core.get(&format!("/api/plugins/{HELLO}")).await;
    assert_eq!(fixed["state"], "active", "{fixed}");
    assert_eq!(fixed["restarts"], 0, "{fixed}");
    let (status, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!((status, body["version"].as_str()), (200, Some("1.0.1")));
    core.stop().await;
}
