//! The PowerX version Core declares it is compatible with (SPEC §2.1a):
//! `/api/me` says it, and a plugin's `requires.corex` (`plugin.yaml`'s
//! `corex_version`) is checked against it in the `resolve` phase.

mod common;

use common::{Core, HELLO};
use px_api::ReasonCode;
use serde_json::Value;

fn requires_corex(range: &str) -> impl FnOnce(&mut Value) {
    let range = range.to_owned();
    move |m: &mut Value| {
        m["requires"]["corex"] = range.into();
    }
}

#[tokio::test]
async fn me_names_core_and_its_powerx_version() {
    let core = Core::start().await;
    let (status, me) = core.get("/api/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["core_version"], px_core::VERSION);
    assert_eq!(me["powerx_compat_version"], px_core::POWERX_COMPAT_VERSION);
    let typed: px_api::Me = serde_json::from_value(me).unwrap();
    assert_eq!(typed.powerx_compat_version, px_core::POWERX_COMPAT_VERSION);
    core.stop().await;
}

#[tokio::test]
async fn an_unmet_corex_version_is_a_dependency_conflict() {
    let core = Core::start().await;
    let met = format!(">={}", px_core::POWERX_COMPAT_VERSION);
    let dir = core.plugin("hello", HELLO, "1.0.0", requires_corex(&met));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");

    let dir = core.plugin("hello", HELLO, "1.0.1", requires_corex(">=99.0.0"));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 409, "{report:?}");
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::DependencyConflict);
    assert!(
        reason.message.contains(">=99.0.0")
            && reason
                .message
                .contains(&format!("({})", px_core::POWERX_COMPAT_VERSION)),
        "{}",
        reason.message
    );
    // the running revision is untouched
    let (status, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!((status, body["version"].as_str()), (200, Some("1.0.0")));
    core.stop().await;
}
