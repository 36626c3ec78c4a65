//! Installing, hot reloading and rolling back real plugin processes through a real Core.

mod common;

use std::time::Duration;

use common::{Core, HELLO, mode, pack};
use px_api::{InstallStatus, Phase, ReasonCode};

#[tokio::test]
async fn installs_from_a_directory_and_hot_reloads() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report.status, InstallStatus::Active);
    assert_eq!(report.revision, Some(1));
    assert_eq!(report.stable_revision, Some(1));
    let names: Vec<Phase> = report.phases.iter().map(|p| p.name).collect();
    // every phase but `migrate`, which runs only for a plugin that declares migrations
    let expected: Vec<Phase> = Phase::ALL
        .into_iter()
        .filter(|p| *p != Phase::Migrate)
        .collect();
    assert_eq!(names, expected);
    assert!(report.phases.iter().all(|p| p.ok));

    let (status, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!(status, 200);
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["revision"], 1);

    let dir = core.plugin("hello", HELLO, "2.0.0", |m| {
        m["config"]["greeting"] = "bonjour".into()
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report.revision, Some(2));
    let (_, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!(body["version"], "2.0.0");
    assert_eq!(body["message"], "bonjour");

    let (status, detail) = core.get(&format!("/api/plugins/{HELLO}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["state"], "active");
    assert_eq!(detail["stable_revision"], 2);
    assert_eq!(detail["revisions"].as_array().unwrap().len(), 2);
    let (_, list) = core.get("/api/plugins").await;
    assert_eq!(list["plugins"][0]["id"], HELLO);

    // the admin page of the current revision
    let admin = core
        .authed(core.client.get(format!("{}/_p/{HELLO}/admin/", core.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    assert!(
        admin
            .text()
            .await
            .unwrap()
            .contains("Hello from a PowerX plugin")
    );

    // lifecycle events and plugin log lines share the bus
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=500"))
        .await;
    let messages = logs["messages"].as_array().unwrap();
    let events: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["data"]["event"].as_str())
        .collect();
    assert!(events.contains(&"install.started"));
    assert!(events.contains(&"install.succeeded"));
    assert!(
        messages
            .iter()
            .any(|m| m["kind"] == "log" && m["message"].as_str().unwrap().contains("GET /hello"))
    );
    core.stop().await;
}

#[tokio::test]
async fn installs_a_pxp_upload() {
    let core = Core::start().await;
    let dir = core.plugin("hello", HELLO, "1.2.3", |_| {});
    let (status, report) = core.install_pxp(pack(&dir)).await;
    assert_eq!(status, 200, "{report:?}");
    assert_eq!(report.version, "1.2.3");
    let (status, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!((status, body["version"].as_str()), (200, Some("1.2.3")));
    core.stop().await;
}

/// Installs v1, then a broken v2; v1 must keep serving.
async fn broken_reload(
    tweak: impl FnOnce(&mut serde_json::Value),
) -> (Core, u16, px_api::InstallReport) {
    let core = Core::start_with(common::Options {
        health_timeout_ms: 1_500,
        ..Default::default()
    })
    .await;
    let dir = core.plugin("hello", HELLO, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let dir = core.plugin("hello", HELLO, "2.0.0", tweak);
    let (status, report) = core.install_dir(&dir).await;
    let (serving, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!(
        serving, 200,
        "stable revision stopped serving after {report:?}"
    );
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(report.stable_revision, Some(1));
    (core, status, report)
}

#[tokio::test]
async fn a_process_that_exits_at_once_is_rolled_back_with_its_stderr() {
    let (core, status, report) = broken_reload(mode("exit")).await;
    assert_eq!(status, 502);
    assert_eq!(report.status, InstallStatus::RolledBack);
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::StartFailed);
    assert!(reason.message.contains('3'), "{}", reason.message);
    assert!(
        reason
            .log_tail
            .iter()
            .any(|l| l.contains("exiting at once")),
        "{:?}",
        reason.log_tail
    );
    core.stop().await;
}

#[tokio::test]
async fn a_process_that_never_listens_times_out() {
    let (core, status, report) = broken_reload(mode("never_listen")).await;
    assert_eq!(status, 502);
    assert_eq!(report.reason.unwrap().code, ReasonCode::HealthTimeout);
    core.stop().await;
}

#[tokio::test]
async fn an_unhealthy_process_fails_health() {
    let (core, status, report) = broken_reload(mode("unhealthy")).await;
    assert_eq!(status, 502);
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::HealthFailed);
    assert!(reason.message.contains("500"));
    core.stop().await;
}

#[tokio::test]
async fn a_crash_in_probation_swaps_back() {
    let (core, status, report) = broken_reload(mode("crash_after:100")).await;
    assert_eq!(status, 502);
    assert_eq!(report.status, InstallStatus::RolledBack);
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::CrashedInProbation);
    assert!(
        reason.log_tail.iter().any(|l| l.contains("crashing")),
        "{:?}",
        reason.log_tail
    );
    let (_, detail) = core.get(&format!("/api/plugins/{HELLO}")).await;
    assert_eq!(detail["state"], "rolled_back");
    assert_eq!(detail["revision"], 1);
    assert_eq!(detail["last_reason"]["code"], "crashed_in_probation");
    core.stop().await;
}

#[tokio::test]
async fn a_missing_entry_is_rejected() {
    let (core, status, report) = broken_reload(|m| {
        m["runtime"]["entry"] = "./bin/nope".into();
        m["runtime"]["args"] = serde_json::json!([]);
    })
    .await;
    assert_eq!(status, 422);
    assert_eq!(report.status, InstallStatus::Rejected);
    assert_eq!(report.reason.unwrap().code, ReasonCode::EntryMissing);
    core.stop().await;
}

#[tokio::test]
async fn an_invalid_manifest_is_rejected_with_diagnostics() {
    let (core, status, report) =
        broken_reload(|m| m["runtime"]["health"]["path"] = "healthz".into()).await;
    assert_eq!(status, 422);
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::ManifestInvalid);
    assert!(!reason.details.is_empty());
    assert_eq!(
        reason.message, "manifest.json has 1 error(s)",
        "no staging path"
    );
    core.stop().await;
}

#[tokio::test]
async fn a_missing_dependency_is_a_conflict() {
    let (core, status, report) =
        broken_reload(|m| m["dependencies"] = serde_json::json!({"com.example.absent": ">=1"}))
            .await;
    assert_eq!(status, 409);
    assert_eq!(report.reason.unwrap().code, ReasonCode::DependencyConflict);
    core.stop().await;
}

#[tokio::test]
async fn dependencies_are_resolved_and_injected() {
    let core = Core::start().await;
    let base = core.plugin("base", "com.example.base", "1.4.0", |_| {});
    assert_eq!(core.install_dir(&base).await.0, 200);
    let user = core.plugin("user", "com.example.user", "1.0.0", |m| {
        m["dependencies"] = serde_json::json!({"com.example.base": "^1.2"});
    });
    let (status, report) = core.install_dir(&user).await;
    assert_eq!(status, 200, "{report:?}");
    let pid = common::plugin_pids("com.example.user", core.data.path())[0];
    let env = common::environ(pid);
    let dep = env
        .iter()
        .find(|(k, _)| k == "PX_DEP_COM_EXAMPLE_BASE_URL")
        .unwrap();
    assert_eq!(dep.1, format!("{}/_p/com.example.base/api", core.url));
    let wrong = core.plugin("user", "com.example.user", "1.0.1", |m| {
        m["dependencies"] = serde_json::json!({"com.example.base": "^2"});
    });
    assert_eq!(core.install_dir(&wrong).await.0, 409);
    core.stop().await;
}

#[tokio::test]
async fn permission_collisions_are_conflicts_but_menu_ids_are_per_plugin() {
    let core = Core::start().await;
    let a = core.plugin("a", "com.example.a", "1.0.0", |_| {});
    assert_eq!(core.install_dir(&a).await.0, 200);
    // every template names its menu `home`: menu ids are scoped to their plugin
    let same_menu = core.plugin("m", "com.example.m", "1.0.0", |m| {
        m["admin"]["menus"][0]["id"] = "home-com-example-a".into();
    });
    let (status, report) = core.install_dir(&same_menu).await;
    assert_eq!(status, 200, "{report:?}");
    let permission = core.plugin("b", "com.example.b", "1.0.0", |m| {
        m["permissions"][0]["key"] = "com-example-a:read".into();
        m["admin"]["menus"][0]["permission"] = "com-example-a:read".into();
    });
    let (status, report) = core.install_dir(&permission).await;
    assert_eq!(status, 409);
    assert!(report.reason.unwrap().message.contains("permission"));
    // a rejected first install leaves no plugin behind
    assert_eq!(core.proxy("com.example.b", "/hello").await.0, 404);
    assert_eq!(core.get("/api/plugins/com.example.b").await.0, 404);
    core.stop().await;
}

#[tokio::test]
async fn rollback_returns_to_an_earlier_revision() {
    let core = Core::start().await;
    for version in ["1.0.0", "2.0.0"] {
        let dir = core.plugin("hello", HELLO, version, |_| {});
        assert_eq!(core.install_dir(&dir).await.0, 200);
    }
    let response = core
        .authed(
            core.client
                .post(format!("{}/api/plugins/{HELLO}/rollback", core.url)),
        )
        .json(&serde_json::json!({"revision": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: px_api::InstallReport = response.json().await.unwrap();
    assert_eq!(report.revision, Some(1));
    assert_eq!(report.stable_revision, Some(1));
    let (_, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!(body["version"], "1.0.0");
    let response = core
        .authed(
            core.client
                .post(format!("{}/api/plugins/nobody.here/rollback", core.url)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    core.stop().await;
}

#[tokio::test]
async fn a_crash_after_probation_is_restarted() {
    let core = Core::start_with(common::Options {
        probation_ms: 100,
        ..Default::default()
    })
    .await;
    let dir = core.plugin("hello", HELLO, "1.0.0", mode("crash_after:400"));
    assert_eq!(core.install_dir(&dir).await.0, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, detail) = core.get(&format!("/api/plugins/{HELLO}")).await;
        if detail["restarts"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never restarted: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=500"))
        .await;
    let events: Vec<String> = logs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["data"]["event"].as_str().map(str::to_owned))
        .collect();
    assert!(events.iter().any(|e| e == "plugin.crashed"), "{events:?}");
    assert!(events.iter().any(|e| e == "plugin.restarted"), "{events:?}");
    core.stop().await;
}

#[tokio::test]
async fn health_timeout_is_reported_close_to_its_limit() {
    // a plugin that never listens and ignores SIGTERM: the health phase must
    // end near the manifest's timeout, not wait out a long graceful stop
    let (core, status, report) = broken_reload(|m| {
        m["runtime"]["health"]["timeout_ms"] = 1_000.into();
        m["runtime"]["entry"] = "sh".into();
        m["runtime"]["args"] = serde_json::json!(["-c", "trap '' TERM; exec sleep 60"]);
    })
    .await;
    assert_eq!(status, 502);
    assert_eq!(
        report.reason.as_ref().unwrap().code,
        ReasonCode::HealthTimeout
    );
    let health = report
        .phases
        .iter()
        .find(|p| p.name == px_api::Phase::Health)
        .unwrap();
    assert!(
        (1_000..1_600).contains(&health.ms),
        "health phase took {} ms for a 1000 ms timeout",
        health.ms
    );
    core.stop().await;
}
