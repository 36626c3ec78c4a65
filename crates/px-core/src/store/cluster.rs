//! What lets several Cores share one PostgreSQL database: a per-plugin
//! advisory lock held for the whole of an install, rollback or uninstall, so
//! that lifecycle operations on one plugin take turns across Cores, and change
//! notifications (`LISTEN`/`NOTIFY` on [`CHANNEL`]) that tell the other Cores
//! to follow. On SQLite one Core owns the database: locks are free and nothing
//! is sent.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgListener;

use super::Store;

/// The `NOTIFY` channel of plugin changes.
pub const CHANNEL: &str = "px_plugin_changes";

/// What one Core did to a plugin; sent as `install`, `rollback` or `uninstall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// A finished install or reload (live or not).
    Install,
    /// A finished rollback.
    Rollback,
    /// An uninstall.
    Uninstall,
}

/// A change of one plugin, made by one Core, for the others to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginChange {
    /// The plugin.
    pub plugin_id: String,
    /// Id of the Core that made the change.
    pub origin: String,
    /// What it did.
    pub action: ChangeAction,
}

/// A per-plugin advisory lock, released when dropped. Holds one pooled
/// connection (PostgreSQL session locks belong to a connection); if Core
/// dies, PostgreSQL releases it with the connection.
#[derive(Debug)]
pub struct PluginLock {
    held: Option<(PoolConnection<sqlx::Any>, i64)>,
}

impl Drop for PluginLock {
    fn drop(&mut self) {
        let Some((mut conn, key)) = self.held.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            conn.close_on_drop();
            return;
        };
        runtime.spawn(async move {
            let unlocked = sqlx::query("SELECT 1 FROM (SELECT pg_advisory_unlock($1)) AS unlocked")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // never hand a connection that may still hold the lock back to the pool
                conn.close_on_drop();
            }
        });
    }
}

/// The advisory lock key of a plugin: the first 8 bytes of sha256("px-plugin:" + id).
pub fn plugin_lock_key(plugin_id: &str) -> i64 {
    let digest = Sha256::digest(format!("px-plugin:{plugin_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl Store {
    /// Waits for the cluster-wide lock of a plugin (free on SQLite).
    pub async fn lock_plugin(&self, plugin_id: &str) -> anyhow::Result<PluginLock> {
        if !self.is_shared() {
            return Ok(PluginLock { held: None });
        }
        let key = plugin_lock_key(plugin_id);
        let mut conn = self.pool().acquire().await?;
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_lock($1)) AS locked")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(PluginLock {
            held: Some((conn, key)),
        })
    }

    /// Takes the cluster-wide lock of a plugin if no Core holds it.
    pub async fn try_lock_plugin(&self, plugin_id: &str) -> anyhow::Result<Option<PluginLock>> {
        if !self.is_shared() {
            return Ok(Some(PluginLock { held: None }));
        }
        let key = plugin_lock_key(plugin_id);
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        let locked: bool = row.try_get("locked")?;
        Ok(locked.then_some(PluginLock {
            held: Some((conn, key)),
        }))
    }

    /// Tells the other Cores that a plugin changed (nothing on SQLite).
    pub async fn notify_plugin_changed(&self, change: &PluginChange) -> anyhow::Result<()> {
        if !self.is_shared() {
            return Ok(());
        }
        sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS sent")
            .bind(CHANNEL)
            .bind(serde_json::to_string(change)?)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The feed of plugin changes made by any Core; `None` on SQLite.
    pub fn plugin_changes(&self) -> Option<ChangeFeed> {
        self.is_shared().then(|| ChangeFeed {
            url: self.url.clone(),
            listener: None,
            backoff: FIRST_BACKOFF,
        })
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the feed says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// One plugin changed.
    Changed(PluginChange),
    /// The feed (re)connected: changes may have been missed, look at everything.
    Resync,
}

/// `LISTEN` on [`CHANNEL`], reconnecting (with backoff) whenever the
/// connection is lost. Notifications sent while disconnected are lost, so
/// every (re)connection is reported as [`FeedItem::Resync`].
#[derive(Debug)]
pub struct ChangeFeed {
    url: std::sync::Arc<super::connect::SecretUrl>,
    listener: Option<PgListener>,
    backoff: Duration,
}

impl ChangeFeed {
    /// The next item; waits for as long as it takes.
    pub async fn next(&mut self) -> FeedItem {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match self.connect().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.backoff = FIRST_BACKOFF;
                        return FeedItem::Resync;
                    }
                    Err(error) => {
                        tracing::warn!(
                            "cannot listen for plugin changes on {}: {error:#}; retrying in {:?}",
                            super::connect::describe_postgres(self.url.expose()),
                            self.backoff
                        );
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<PluginChange>(notification.payload()) {
                        Ok(change) => return FeedItem::Changed(change),
                        Err(error) => tracing::warn!(%error, "ignoring a malformed plugin change"),
                    }
                }
                // the listener reconnected on its own; what happened meanwhile is unknown
                Ok(None) => return FeedItem::Resync,
                Err(error) => {
                    tracing::warn!("lost the plugin change feed: {error}");
                    self.listener = None;
                }
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<PgListener> {
        let mut listener = PgListener::connect(self.url.expose()).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}
