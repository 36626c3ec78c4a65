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

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use px_api::{Finished, Level, LifecycleEvent, PluginState};

use super::Manager;
use super::live::Cause;
use super::run::Run;
use super::task::{Msg, Next, PluginTask};
use crate::events::Event;
use crate::store::cluster::FeedItem;

/// This Core's membership in a group of Cores sharing one database.
#[derive(Debug)]
pub(crate) struct Membership {
    /// Stable id of this Core (kept in `<data>/core-id`).
    pub core_id: String,
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
        let mut ids: Vec<String> = self.handles().iter().map(|h| h.id.clone()).collect();
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

    /// Asks the task of `id` to bring it in line with the database; the
    /// task's mailbox orders the passes of one plugin.
    fn schedule_follow(&self, id: &str) {
        let manager = self.arc();
        let id = id.to_owned();
        tokio::spawn(async move {
            let known = manager.handle(&id).is_some();
            match manager.store.plugin(&id).await {
                Ok(None) if !known => {}
                Ok(_) => manager.deliver(&id, Msg::Follow, true).await,
                Err(error) => {
                    tracing::error!(plugin = %id, "cannot follow the other Cores: {error:#}")
                }
            }
        });
    }
}

impl PluginTask {
    /// One pass: this Core's instance to the database's stable revision, or
    /// gone when another Core uninstalled the plugin.
    pub(crate) async fn follow(&mut self) -> anyhow::Result<Next> {
        let id = self.plugin.id.clone();
        let Some(row) = self.m.store.plugin(&id).await? else {
            self.tear_down().await?;
            self.m.emit(
                &id,
                None,
                LifecycleEvent::Uninstalled,
                Level::Info,
                format!("{id} was uninstalled through another Core"),
            );
            return Ok(Next::End);
        };
        let Some(stable) = row.stable_revision else {
            if self.current().is_none() {
                self.set_state(PluginState::Failed);
            }
            return Ok(Next::Continue);
        };
        let revision = self
            .m
            .store
            .revision(&id, stable)
            .await?
            .with_context(|| format!("stable revision {stable} has no row"))?;
        let same = self
            .current()
            .is_some_and(|r| r.revision() == stable && r.target.digest == revision.digest);
        if same {
            return Ok(Next::Continue);
        }
        let started = Instant::now();
        let install_id = Some(revision.install_id.clone());
        let mut run = Run::quiet(self.m.events.clone());
        let live = match self.m.stored_target(&id, stable).await {
            Ok(target) => self.go_live(&mut run, target, Cause::Follow).await,
            Err(failure) => Err(failure),
        };
        match live {
            Ok(()) => {
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let finished = Finished {
                    duration_ms: ms,
                    reason: None,
                    stable_revision: Some(stable),
                    followed: true,
                };
                self.m.events.event(Event {
                    plugin_id: id.clone(),
                    revision: Some(stable),
                    install_id,
                    event: LifecycleEvent::InstallSucceeded(finished),
                    phase: None,
                    level: Level::Info,
                    message: format!(
                        "revision {stable} is live (followed another Core in {ms} ms)"
                    ),
                });
                self.prune().await;
            }
            Err(failure) => {
                self.settle_failed();
                let event = LifecycleEvent::FollowFailed {
                    followed: true,
                    reason: failure.reason(),
                };
                self.m.events.event(Event {
                    plugin_id: id.clone(),
                    revision: Some(stable),
                    install_id,
                    event,
                    phase: None,
                    level: Level::Error,
                    message: format!(
                        "revision {stable} did not start on this Core: {}",
                        failure.message
                    ),
                });
            }
        }
        Ok(Next::Continue)
    }
}
