//! Health with PowerX's meaning (SPEC §2.1a, §3.3): `health.timeout_ms` is
//! the startup budget (capped by `dev.health_timeout_ms`, 30 s by default),
//! `health.probe_timeout_ms` is one probe's, at startup and for liveness
//! (where it defaults to `interval_ms`).

mod common;

use std::time::{Duration, Instant};

use common::{Core, HELLO, mode};
use px_api::Phase;
use serde_json::Value;

/// A Core with the policy's default startup deadline.
async fn core() -> Core {
    let options = common::Options {
        probation_ms: 100,
        health_timeout_ms: px_core::Policy::default().dev.health_timeout_ms,
        ..Default::default()
    };
    Core::start_configured(options, |config| {
        config.policy.dev.liveness.max_restarts = 50;
    })
    .await
}

/// hello-python in `hello_mode`, with a 30 s startup budget and probes of
/// `probe_timeout_ms`.
fn probed(hello_mode: &str, probe_timeout_ms: u64) -> impl FnOnce(&mut Value) {
    let set_mode = mode(hello_mode);
    move |m: &mut Value| {
        set_mode(m);
        m["runtime"]["health"]["timeout_ms"] = 30_000.into();
        m["runtime"]["health"]["probe_timeout_ms"] = probe_timeout_ms.into();
    }
}

fn health_ms(report: &px_api::InstallReport) -> u64 {
    report
        .phases
        .iter()
        .find(|p| p.name == Phase::Health)
        .map(|p| p.ms)
        .unwrap()
}

#[test]
fn the_default_startup_deadline_is_powerx_s() {
    assert_eq!(px_core::Policy::default().dev.health_timeout_ms, 30_000);
}

#[tokio::test]
async fn a_plugin_that_boots_longer_than_one_probe_goes_live() {
    let core = core().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", probed("boot_after:2000", 1_000));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert!(health_ms(&report) >= 1_900, "{report:?}");
    let (status, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!((status, body["version"].as_str()), (200, Some("1.0.0")));
    core.stop().await;
}

#[tokio::test]
async fn a_hanging_probe_is_given_up_at_the_probe_timeout() {
    let core = core().await;
    // the first /healthz hangs for 20 s; the next probe answers at once
    let dir = core.plugin("hello", HELLO, "1.0.0", probed("slow_health:20000", 300));
    let started = Instant::now();
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert!(
        health_ms(&report) < 5_000 && started.elapsed() < Duration::from_secs(10),
        "stuck on one probe: {report:?}"
    );
    core.stop().await;
}

#[tokio::test]
async fn probes_that_always_hang_fail_at_the_startup_budget() {
    let core = core().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |m: &mut Value| {
        probed("hang_health_after:0", 200)(m);
        m["runtime"]["health"]["timeout_ms"] = 1_500.into();
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 502, "{report:?}");
    let reason = report.reason.as_ref().unwrap();
    assert_eq!(reason.code.as_str(), "health_timeout", "{reason:?}");
    assert!((1_500..3_000).contains(&health_ms(&report)), "{report:?}");
    core.stop().await;
}

#[tokio::test]
async fn a_stable_revision_whose_probes_hang_is_restarted_at_its_interval() {
    let core = core().await;
    // no probe_timeout_ms: a liveness probe may take one interval (100 ms)
    let dir = core.plugin("hello", HELLO, "1.0.0", |m: &mut Value| {
        mode("hang_health_after:1000")(m);
        m["runtime"]["health"]["interval_ms"] = 100.into();
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let detail = loop {
        let (_, detail) = core.get(&format!("/api/plugins/{HELLO}")).await;
        if detail["restarts"].as_u64().unwrap_or(0) >= 1 {
            break detail;
        }
        assert!(Instant::now() < deadline, "not restarted: {detail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(detail["last_reason"]["code"], "unhealthy", "{detail}");
    let message = detail["last_reason"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("GET /healthz failed") && message.contains("3 probes in a row"),
        "{message}"
    );
    core.stop().await;
}
