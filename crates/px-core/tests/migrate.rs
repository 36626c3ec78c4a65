//! The `migrate` phase (SPEC §3.3): the plugin's migration command runs
//! before its processes start — once per version with `once`, on every
//! install without — and a failure stops the install with its output while
//! the running revision keeps serving.

mod common;

use std::path::Path;

use common::{Core, HELLO};
use px_api::{InstallStatus, Phase, ReasonCode};
use serde_json::{Value, json};

/// A migration that appends `$PX_PLUGIN_VERSION` to `migrations.log` in the
/// plugin's data directory, then runs `then`.
fn migrations(once: bool, then: &str) -> impl FnOnce(&mut Value) {
    let script = format!(
        "echo \"migrating to $PX_PLUGIN_VERSION in $(basename \"$PWD\")\"; \
         echo \"$PX_PLUGIN_VERSION\" >> \"$PX_PLUGIN_DATA_DIR/migrations.log\"; {then}"
    );
    move |m: &mut Value| {
        m["migrations"] = json!({
            "entry": "sh",
            "args": ["-c", script],
            "workdir": "db",
            "once": once,
            "timeout_ms": 2_000,
        });
    }
}

fn write(core: &Core, version: &str, tweak: impl FnOnce(&mut Value)) -> std::path::PathBuf {
    let dir = core.plugin("hello", HELLO, version, tweak);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    dir
}

fn migrated(data: &Path) -> Vec<String> {
    let log = data.join("plugins").join(HELLO).join("data/migrations.log");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn ran_migrate(report: &px_api::InstallReport) -> bool {
    report.phases.iter().any(|p| p.name == Phase::Migrate)
}

#[tokio::test]
async fn once_migrates_each_version_once_and_before_the_start() {
    let core = Core::start().await;
    let dir = write(&core, "1.0.0", migrations(true, "true"));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    let names: Vec<Phase> = report.phases.iter().map(|p| p.name).collect();
    let at = |phase| names.iter().position(|p| *p == phase).unwrap();
    assert_eq!(at(Phase::Migrate), at(Phase::Stage) + 1, "{names:?}");
    assert!(at(Phase::Migrate) < at(Phase::Start));
    assert_eq!(migrated(core.data.path()), ["1.0.0"]);
    let (_, logs) = core
        .get(&format!("/api/plugins/{HELLO}/logs?tail=200"))
        .await;
    assert!(
        logs["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["message"] == "migrating to 1.0.0 in db" && m["stream"] == "stdout"),
        "{logs}"
    );

    // the same version again: not migrated again
    let dir = write(&core, "1.0.0", |m| {
        migrations(true, "true")(m);
        m["config"] = json!({ "greeting": "again" });
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert!(!ran_migrate(&report), "{report:?}");
    assert_eq!(migrated(core.data.path()), ["1.0.0"]);

    // a new version is
    let dir = write(&core, "1.1.0", migrations(true, "true"));
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 200, "{report:?}");
    assert!(ran_migrate(&report));
    assert_eq!(migrated(core.data.path()), ["1.0.0", "1.1.0"]);
    core.stop().await;
}

#[tokio::test]
async fn without_once_every_install_migrates() {
    let core = Core::start().await;
    for _ in 0..2 {
        let dir = write(&core, "1.0.0", migrations(false, "true"));
        let (status, report) = core.install_dir(&dir).await;
        assert_eq!(status, 200, "{report:?}");
        assert!(ran_migrate(&report));
    }
    assert_eq!(migrated(core.data.path()), ["1.0.0", "1.0.0"]);
    core.stop().await;
}

#[tokio::test]
async fn a_failing_migration_stops_the_install_and_the_stable_revision_serves() {
    let core = Core::start().await;
    let dir = write(&core, "1.0.0", |_| {});
    assert_eq!(core.install_dir(&dir).await.0, 200);

    let dir = write(
        &core,
        "2.0.0",
        migrations(
            false,
            "echo 'migration 0007: no such table: orders' >&2; exit 3",
        ),
    );
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 502, "{report:?}");
    assert_eq!(report.status, InstallStatus::RolledBack);
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::MigrationFailed);
    assert!(
        reason.message.contains("exit status: 3"),
        "{}",
        reason.message
    );
    assert_eq!(
        reason.log_tail,
        [
            "migrating to 2.0.0 in db",
            "migration 0007: no such table: orders"
        ]
    );
    // nothing of 2.0.0 was started; 1.0.0 still serves
    assert!(!report.phases.iter().any(|p| p.name == Phase::Start));
    assert_eq!(report.stable_revision, Some(1));
    let (status, body) = core.proxy(HELLO, "/hello").await;
    assert_eq!((status, body["version"].as_str()), (200, Some("1.0.0")));
    core.stop().await;
}

#[tokio::test]
async fn a_migration_that_hangs_fails_at_its_timeout() {
    let core = Core::start().await;
    let dir = write(&core, "1.0.0", |m| {
        migrations(false, "exec sleep 30")(m);
        m["migrations"]["timeout_ms"] = 300.into();
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 502, "{report:?}");
    let reason = report.reason.as_ref().unwrap();
    assert_eq!(reason.code, ReasonCode::MigrationFailed);
    assert!(
        reason.message.contains("did not finish within 300 ms"),
        "{}",
        reason.message
    );
    let migrate = report
        .phases
        .iter()
        .find(|p| p.name == Phase::Migrate)
        .unwrap();
    assert!((300..1_500).contains(&migrate.ms), "{migrate:?}");
    assert!(!migrate.ok);
    core.stop().await;
}

#[tokio::test]
async fn a_workdir_outside_the_revision_is_refused() {
    let core = Core::start().await;
    let dir = write(&core, "1.0.0", |m| {
        migrations(false, "true")(m);
        m["migrations"]["workdir"] = "../..".into();
    });
    let (status, report) = core.install_dir(&dir).await;
    assert_eq!(status, 502, "{report:?}");
    let reason = report.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::MigrationFailed);
    assert!(
        reason.message.contains("migrations.workdir"),
        "{}",
        reason.message
    );
    assert!(migrated(core.data.path()).is_empty());
    core.stop().await;
}
