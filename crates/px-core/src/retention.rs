//! Retention: Core deletes audit rows, kept `plugin.dev.logs` messages and
//! expired sessions on its own, once at start and then every hour. The clock
//! is a parameter so tests control it.

use std::time::Duration;

use crate::store::{Store, now_ms};

/// How often pruning runs.
pub const INTERVAL: Duration = Duration::from_secs(60 * 60);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Audit rows deleted.
    pub audit_rows: u64,
    /// Kept `plugin.dev.logs` messages deleted.
    pub events: u64,
    /// Sessions deleted.
    pub sessions: u64,
}

/// Deletes what is older than `retention_days` before `now_ms`.
pub async fn prune(store: &Store, now_ms: i64, retention_days: u32) -> anyhow::Result<Pruned> {
    let cutoff = now_ms - i64::from(retention_days) * DAY_MS;
    Ok(Pruned {
        audit_rows: store.audit_prune(cutoff).await?,
        events: store.events_prune(cutoff).await?,
        sessions: store.prune_sessions().await?,
    })
}

/// Runs [`prune`] now and every [`INTERVAL`] until the task is dropped.
pub fn spawn(store: Store, retention_days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tick.tick().await;
            match prune(&store, now_ms(), retention_days).await {
                Ok(p) if p.audit_rows > 0 || p.events > 0 => tracing::info!(
                    "retention: deleted {} audit rows and {} log messages",
                    p.audit_rows,
                    p.events
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!("retention pass failed: {e:#}"),
            }
        }
    })
}
