//! Retention pruning with a controlled clock: rows older than the policy's
//! `audit.retention_days` go, newer ones stay.

use px_core::Store;
use px_core::retention::prune;
use px_core::store::audit::{AuditAction, AuditEntry, AuditFilter, AuditResult};

const DAY: i64 = 24 * 60 * 60 * 1000;

#[tokio::test]
async fn prunes_audit_rows_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    let now = 1_800_000_000_000;
    for (age_days, action) in [
        (30, AuditAction::Install),
        (8, AuditAction::Reload),
        (6, AuditAction::Rollback),
        (0, AuditAction::Uninstall),
    ] {
        let entry = AuditEntry {
            at: now - age_days * DAY - 1,
            ..AuditEntry::new("alice", action, AuditResult::Success)
        };
        store.audit_insert(entry).await.unwrap();
    }
    let pruned = prune(&store, now, 7).await.unwrap();
    assert_eq!(pruned.audit_rows, 2);
    let filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    let left: Vec<AuditAction> = store
        .audit(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(left, [AuditAction::Uninstall, AuditAction::Rollback]);
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
