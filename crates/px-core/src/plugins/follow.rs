//! Following the other Cores of a shared PostgreSQL database.
//!
//! Every Core runs its own plugin processes. When one Core installs,
//! reloads, rolls back or uninstalls a plugin it announces it (`NOTIFY`);
//! every other Core then brings its own instance to the plugin's stable
//! revision in the database: unpack it from the artifact store, start it,
//! wait for health, swap, stop the old one — or stop and forget the plugin
//! when its row is gone. After the feed (re)connects every plugin is
//! compared, since notifications sent meanwhile are lost. Following writes no
//! audit rows and counts no installs: the Core that did the work already did.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use px_api::PluginState;

use super::Manager;
use super::install::{Target, drain_and_stop};
use super::slot::Slot;
use crate::events::Event;
use crate::store::cluster::FeedItem;

/// This Core's membership in a group of Cores sharing one database.
#[derive(Debug)]
pub(crate) struct Membership {
    /// Stable id of this Core (kept in `<data>/core-id`).
    pub core_id: String,
    /// Plugins being brought in line, and whether another pass was asked
    /// for meanwhile.
    pending: Mutex<HashMap<String, bool>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Membership {
    /// Reads this Core's id from the data directory, creating it the first time.
    pub(crate) fn new(data_dir: &Path) -> anyhow::Result<Membership> {
        let file = data_dir.join("core-id");
        let core_id = match std::fs::read_to_string(&file) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                std::fs::create_dir_all(data_dir)?;
                std::fs::write(&file, &id)
                    .with_context(|| format!("writing {}", file.display()))?;
                id
            }
        };
        Ok(Membership {
            core_id,
            pending: Mutex::new(HashMap::new()),
            task: Mutex::new(None),
        })
    }

    /// Stops following (Core is shutting down).
    pub(crate) fn stop(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Manager {
    /// Starts following the other Cores (shared database only).
    pub(crate) fn start_following(&self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let Some(mut feed) = self.store.plugin_changes() else {
            return;
        };
        let me = self.me.clone();
        let core_id = cluster.core_id.clone();
        let task = tokio::spawn(async move {
            loop {
                let item = feed.next().await;
                let Some(manager) = me.upgrade() else {
                    return;
                };
                match item {
                    FeedItem::Changed(change) if change.origin == core_id => {}
                    FeedItem::Changed(change) => manager.schedule_follow(&change.plugin_id),
                    FeedItem::Resync => manager.resync().await,
                }
            }
        });
        *cluster
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
    }

    async fn resync(&self) {
        let mut ids: Vec<String> = self.all_slots().iter().map(|s| s.id.clone()).collect();
        match self.store.plugins().await {
            Ok(rows) => ids.extend(rows.into_iter().map(|p| p.id)),
            Err(error) => tracing::warn!("cannot list plugins to follow: {error:#}"),
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            self.schedule_follow(&id);
        }
    }

    /// Brings plugin `id` in line soon; passes for one plugin never overlap,
    /// and changes that arrive during a pass cause one more pass.
    fn schedule_follow(&self, id: &str) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        {
            let mut pending = cluster.pending();
            if let Some(again) = pending.get_mut(id) {
                *again = true;
                return;
            }
            pending.insert(id.to_owned(), false);
        }
        let manager = self.arc();
        let id = id.to_owned();
        tokio::spawn(async move {
            loop {
                if let Err(error) = manager.follow(&id).await {
                    tracing::error!(plugin = %id, "cannot follow the other Cores: {error:#}");
                }
                let Some(cluster) = &manager.cluster else {
                    return;
                };
                let mut pending = cluster.pending();
                if pending.get(&id) == Some(&true) {
                    pending.insert(id.clone(), false);
                } else {
                    pending.remove(&id);
                    return;
                }
            }
        });
    }

    /// One pass: this Core's instance of `id` to the database's stable revision.
    async fn follow(&self, id: &str) -> anyhow::Result<()> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self.slot(id).is_none() && self.store.plugin(id).await?.is_none() {
            return Ok(());
        }
        let slot = self.slot_or_create(id, PluginState::Starting).await?;
        let Some(_guard) = slot.lock().await else {
            return Ok(());
        };
        let Some(row) = self.store.plugin(id).await? else {
            self.forget_followed(&slot).await?;
            return Ok(());
        };
        let Some(stable) = row.stable_revision else {
            if slot.current().is_none() {
                slot.set_state(PluginState::Failed);
            }
            return Ok(());
        };
        let revision = self
            .store
            .revision(id, stable)
            .await?
            .with_context(|| format!("stable revision {stable} has no row"))?;
        let current = slot.current();
        if current
            .as_ref()
            .is_some_and(|r| r.revision == stable && r.digest == revision.digest)
        {
            return Ok(());
        }
        let started = Instant::now();
        let dir = self.revision_on_disk(id, stable, &revision.digest).await?;
        let manifest =
            px_manifest::load_dir(&dir).with_context(|| format!("reading revision {stable}"))?;
        let target = Target {
            manifest: Arc::new(manifest.manifest),
            revision: stable,
            dir,
            digest: revision.digest.clone(),
        };
        match self.launch(&slot, &target).await {
            Ok(running) => {
                slot.point_to(Some(running.clone()));
                slot.live().went_live();
                self.supervise(slot.clone(), running);
                if let Some(old) = current {
                    tokio::spawn(drain_and_stop(old));
                }
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let mut data = serde_json::Map::new();
                data.insert("followed".into(), true.into());
                data.insert("duration_ms".into(), ms.into());
                data.insert("stable_revision".into(), stable.into());
                self.events.event(Event {
                    plugin_id: id.to_owned(),
                    revision: Some(stable),
                    install_id: Some(revision.install_id.clone()),
                    name: "install.succeeded",
                    phase: None,
                    level: "info",
                    message: format!(
                        "revision {stable} is live (followed another Core in {ms} ms)"
                    ),
                    data,
                });
                let manager = self.arc();
                tokio::spawn(async move { manager.prune(&slot).await });
            }
            Err(failure) => {
                let serving = slot.current().is_some_and(|r| r.is_alive());
                slot.set_state(if serving {
                    PluginState::RolledBack
                } else {
                    PluginState::Failed
                });
                let mut data = serde_json::Map::new();
                data.insert("followed".into(), true.into());
                data.insert(
                    "reason".into(),
                    serde_json::to_value(failure.reason()).unwrap_or_default(),
                );
                self.events.event(Event {
                    plugin_id: id.to_owned(),
                    revision: Some(stable),
                    install_id: Some(revision.install_id.clone()),
                    name: "plugin.follow_failed",
                    phase: None,
                    level: "error",
                    message: format!(
                        "revision {stable} did not start on this Core: {}",
                        failure.message
                    ),
                    data,
                });
            }
        }
        Ok(())
    }

    /// The plugin was uninstalled through another Core: stop it here and
    /// remove its files (its rows are gone already). The slot lock is held.
    async fn forget_followed(&self, slot: &Arc<Slot>) -> anyhow::Result<()> {
        self.tear_down(slot).await?;
        self.emit(
            slot,
            None,
            "plugin.uninstalled",
            "info",
            format!("{} was uninstalled through another Core", slot.id),
            serde_json::Map::new(),
        );
        Ok(())
    }
}
