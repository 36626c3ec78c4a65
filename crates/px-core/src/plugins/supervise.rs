//! Keeping stable revisions running: a crash after probation is restarted
//! with exponential backoff (100 ms doubling to 10 s); old revisions are pruned.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use px_api::PluginState;
use px_manifest::RuntimeKind;

use super::install::Target;
use super::launch;
use super::run::Failure;
use super::slot::{Running, Slot};
use super::{KEEP_RECENT, Manager};
use crate::events::Event;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Manager {
    /// Watches a stable instance; if it exits on its own, restarts it.
    pub(crate) fn supervise(&self, slot: Arc<Slot>, running: Arc<Running>) {
        let Some(process) = running.process.clone() else {
            return;
        };
        let manager = self.arc();
        tokio::spawn(async move {
            let status = process.exited().await;
            if running.stopping.load(Ordering::SeqCst)
                || manager.shutting_down.load(Ordering::SeqCst)
            {
                return;
            }
            {
                let Some(_guard) = slot.lock().await else {
                    return;
                };
                let current = slot.current().map(|r| r.serial);
                if current != Some(running.serial) || running.stopping.load(Ordering::SeqCst) {
                    return;
                }
                slot.set_current_unrouted(Some(running.clone()));
                slot.set_state(PluginState::Restarting);
                let mut data = serde_json::Map::new();
                data.insert("status".into(), status.to_string().into());
                data.insert("log_tail".into(), process.last_stderr(20).into());
                manager.emit(
                    &slot,
                    Some(running.revision),
                    "plugin.crashed",
                    "error",
                    format!(
                        "revision {} exited ({status}); restarting",
                        running.revision
                    ),
                    data,
                );
            }
            manager
                .restart_loop(slot, Some(running.serial), running.target())
                .await;
        });
    }

    /// Starts `target` until it is healthy, waiting longer after each failure.
    /// Stops as soon as the slot's current instance is no longer `expected`
    /// (an install or uninstall took over).
    pub(crate) async fn restart_loop(
        &self,
        slot: Arc<Slot>,
        expected: Option<u64>,
        target: Target,
    ) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(backoff).await;
            let Some(_guard) = slot.lock().await else {
                return;
            };
            if self.shutting_down.load(Ordering::SeqCst)
                || slot.current().map(|r| r.serial) != expected
            {
                return;
            }
            match self.launch(&slot, &target).await {
                Ok(running) => {
                    slot.point_to(Some(running.clone()));
                    let restarts = {
                        let mut live = slot.live();
                        live.state = PluginState::Active;
                        live.restarts += 1;
                        live.restarts
                    };
                    let mut data = serde_json::Map::new();
                    data.insert("restarts".into(), restarts.into());
                    self.emit(
                        &slot,
                        Some(target.revision),
                        "plugin.restarted",
                        "info",
                        format!("revision {} is running again", target.revision),
                        data,
                    );
                    self.supervise(slot.clone(), running);
                    return;
                }
                Err(failure) => {
                    let mut data = serde_json::Map::new();
                    data.insert(
                        "reason".into(),
                        serde_json::to_value(failure.reason()).unwrap_or_default(),
                    );
                    data.insert(
                        "retry_in_ms".into(),
                        (backoff.as_millis() as u64 * 2).min(10_000).into(),
                    );
                    self.emit(
                        &slot,
                        Some(target.revision),
                        "plugin.restart_failed",
                        "error",
                        format!(
                            "revision {} did not start: {}",
                            target.revision, failure.message
                        ),
                        data,
                    );
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Spawn + health in one go (restarts and recovery).
    pub(crate) async fn launch(
        &self,
        slot: &Slot,
        target: &Target,
    ) -> Result<Arc<Running>, Failure> {
        if target.manifest.runtime.kind == RuntimeKind::Static {
            return Ok(self.running(target, None, None));
        }
        let spec = self.launch_spec(slot, target);
        let (process, port) =
            launch::spawn(&self.spawner, &self.events, &self.paths, &spec).await?;
        let limit = self.config.policy.dev.health_timeout_ms;
        launch::await_health(&process, port, &target.manifest, limit).await?;
        Ok(self.running(target, Some(process), Some(port)))
    }

    /// Removes revision directories and rows beyond the stable one, the
    /// current one and the [`KEEP_RECENT`] newest.
    pub(crate) async fn prune(&self, slot: &Arc<Slot>) {
        let Some(_guard) = slot.lock().await else {
            return;
        };
        let Ok(Some(plugin)) = self.store.plugin(&slot.id).await else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(self.paths.revisions(&slot.id)) else {
            return;
        };
        let mut revisions: Vec<u64> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        revisions.sort_unstable_by(|a, b| b.cmp(a));
        let current = slot.current().map(|r| r.revision);
        for (index, revision) in revisions.into_iter().enumerate() {
            let keep = index < KEEP_RECENT
                || Some(revision) == plugin.stable_revision
                || Some(revision) == current;
            if keep {
                continue;
            }
            let _ = std::fs::remove_dir_all(self.paths.revision(&slot.id, revision));
            if let Err(error) = self.store.delete_revision(&slot.id, revision).await {
                tracing::warn!(%error, plugin = %slot.id, revision, "cannot forget pruned revision");
            }
        }
    }

    /// Publishes a Core event about a plugin, outside any install.
    pub(crate) fn emit(
        &self,
        slot: &Slot,
        revision: Option<u64>,
        name: &'static str,
        level: &'static str,
        message: String,
        data: serde_json::Map<String, serde_json::Value>,
    ) {
        self.events.event(Event {
            plugin_id: slot.id.clone(),
            revision,
            install_id: None,
            name,
            phase: None,
            level,
            message,
            data,
        });
    }
}
