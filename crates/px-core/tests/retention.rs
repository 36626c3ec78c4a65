//! Retention pruning with a controlled clock: rows older than the policy's
//! `audit.retention_days` go, newer ones stay.

use px_core::Store;
use px_core::retention::prune;
use px_core::store::audit::{AuditEntry, AuditFilter};

const DAY: i64 = 24 * 60 * 60 * 1000;

#[tokio::test]
async fn prunes_audit_rows_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    let now = 1_800_000_000_000;
    for (age_days, action) in [
        (30, "install"),
        (8, "reload"),
        (6, "rollback"),
        (0, "uninstall"),
    ] {
        let entry = AuditEntry {
            at: now - age_days * DAY - 1,
            actor: "alice".into(),
            action: action.into(),
            result: "success".into(),
            ..AuditEntry::default()
        };
        store.audit_insert(entry).await.unwrap();
    }
    let pruned = prune(&store, now, 7).await.unwrap();
    assert_eq!(pruned.audit_rows, 2);
    let filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    let left: Vec<String> = store
        .audit(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(left, ["uninstall", "rollback"]);
    assert_eq!(
        prune(&store, now, 7).await.unwrap().audit_rows,
        0,
        "a second pass finds nothing"
    );
    assert_eq!(
        prune(&store, now + 7 * DAY, 7).await.unwrap().audit_rows,
        2,
        "a week later the rest goes"
    );
}
