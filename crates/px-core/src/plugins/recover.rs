//! Recovery at start (after a clean stop or a `SIGKILL`) and uninstall.

use px_api::{Crash, InstallStatus, Level, LifecycleEvent, PluginState, Reason, ReasonCode};
use tokio::sync::oneshot;

use super::Manager;
use super::live::Cause;
use super::run::Run;
use super::running::Target;
use super::task::{Msg, PluginTask};
use crate::store::audit::{AuditAction, AuditEntry, AuditResult};
use crate::store::cluster::ChangeAction;

impl Manager {
    /// Brings the plugins back after Core (re)starts: wipes half-staged
    /// installs, marks installs that never finished as interrupted, kills
    /// process groups a previous Core left behind, then starts every plugin's
    /// stable revision in the background, all in parallel.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let staging = self.paths.staging_root();
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        self.kill_leftovers();

        for row in self.store.unfinished_revisions().await? {
            // on a shared database another Core may be installing it right now
            let Some(_free) = self.store.try_lock_plugin(&row.plugin_id).await? else {
                continue;
            };
            let reason = Reason {
                code: ReasonCode::Interrupted,
                message: "Core stopped before this install finished".to_owned(),
                log_tail: Vec::new(),
                details: Vec::new(),
            };
            self.store
                .finish_revision(
                    &row.plugin_id,
                    row.revision,
                    InstallStatus::RolledBack,
                    Some(&reason),
                    &row.phases,
                    row.duration_ms,
                )
                .await?;
            // unless another Core has installed a newer revision since
            let stable = self.store.plugin(&row.plugin_id).await?;
            if stable.and_then(|p| p.stable_revision) < Some(row.revision) {
                self.store
                    .record_outcome(&row.plugin_id, Some(&reason), None)
                    .await?;
            }
            self.events.event(crate::events::Event {
                plugin_id: row.plugin_id.clone(),
                revision: Some(row.revision),
                install_id: Some(row.install_id.clone()),
                event: LifecycleEvent::InstallInterrupted,
                phase: None,
                level: Level::Warn,
                message: format!(
                    "install of revision {} was interrupted by a Core stop",
                    row.revision
                ),
            });
        }

        // All database work first, then every start at once: a start writes
        // an audit row when it is done, and overlapping SQLite writers wait
        // on each other (busy timeout), which made this loop take seconds.
        let mut starts = Vec::new();
        for plugin in self.store.plugins().await? {
            let target = match plugin.stable_revision {
                Some(revision) => self
                    .stored_target(&plugin.id, revision)
                    .await
                    .inspect_err(|failure| {
                        tracing::error!(
                            plugin = plugin.id,
                            revision,
                            "stable revision is not available: {}",
                            failure.message
                        )
                    })
                    .ok(),
                None => None,
            };
            let state = match target {
                Some(_) => PluginState::Starting,
                None => PluginState::Failed,
            };
            self.handle_or_create(&plugin.id, state).await?;
            if let Some(target) = target {
                starts.push((plugin.id, target));
            }
        }
        for (id, target) in starts {
            self.deliver(&id, Msg::Recover(target), false).await;
        }
        self.start_following();
        Ok(())
    }

    /// An audit row for something Core did on its own.
    async fn audit_core(
        &self,
        action: AuditAction,
        plugin_id: &str,
        revision: Option<u64>,
        install_id: Option<&str>,
        result: AuditResult,
        reason: Option<&Reason>,
    ) {
        let entry = AuditEntry {
            plugin_id: Some(plugin_id.to_owned()),
            revision: revision.and_then(|r| i64::try_from(r).ok()),
            install_id: install_id.map(str::to_owned),
            reason: reason.map(crate::audit::reason_text),
            ..AuditEntry::new("core", action, result)
        };
        crate::audit::write(&self.store, entry).await;
    }

    /// Kills what a previous Core left running, from the pid files in `<data>/run/`.
    fn kill_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.paths.run_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(leftover) = px_runtime::Leftover::parse(&text) {
                let killed = leftover.kill();
                if killed > 0 {
                    let pid = leftover.pid();
                    tracing::warn!(pid, killed, "killed processes left by a previous Core");
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    /// Uninstalls a plugin: stops its process, removes its route, files, data
    /// and rows. `false` when it is not installed.
    pub async fn uninstall(&self, id: &str) -> anyhow::Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.deliver(id, Msg::Uninstall { reply }, false).await;
        let removed = answer
            .await
            .map_err(|_| anyhow::anyhow!("the plugin's task ended without answering"))??;
        if removed {
            self.announce(id, ChangeAction::Uninstall).await;
        }
        Ok(removed)
    }
}

impl PluginTask {
    /// Starts the stable revision after Core started; on failure it is
    /// restarted with backoff like a crash.
    pub(crate) async fn recover(&mut self, target: Target) {
        if self.current().is_some() {
            return;
        }
        let revision = target.revision;
        let id = self.plugin.id.clone();
        let mut run = Run::quiet(self.m.events.clone());
        match self.go_live(&mut run, target.clone(), Cause::Recover).await {
            Ok(()) => {
                self.m
                    .audit_core(
                        AuditAction::Recover,
                        &id,
                        Some(revision),
                        None,
                        AuditResult::Success,
                        None,
                    )
                    .await;
                self.m.emit(
                    &id,
                    Some(revision),
                    LifecycleEvent::Started,
                    Level::Info,
                    format!("revision {revision} started with Core"),
                );
            }
            Err(failure) => {
                self.set_state(PluginState::Restarting);
                let reason = failure.reason();
                self.m
                    .audit_core(
                        AuditAction::Recover,
                        &id,
                        Some(revision),
                        None,
                        AuditResult::Failure,
                        Some(&reason),
                    )
                    .await;
                let crash = Crash {
                    reason,
                    crashes: None,
                    retry_in_ms: None,
                    restarts: None,
                };
                self.m.emit(
                    &id,
                    Some(revision),
                    LifecycleEvent::Crashed(crash),
                    Level::Error,
                    format!(
                        "revision {revision} did not start with Core: {}",
                        failure.message
                    ),
                );
                self.schedule_restart(target, super::supervise::backoff(1));
            }
        }
    }

    /// Stops everything and removes the plugin's files, data and rows.
    pub(crate) async fn uninstall(&mut self) -> anyhow::Result<bool> {
        let id = self.plugin.id.clone();
        let cluster = self.m.store.lock_plugin(&id).await?;
        self.tear_down().await?;
        self.m.store.delete_plugin(&id).await?;
        self.m.store.delete_plugin_token(&id).await?;
        drop(cluster);
        self.m.emit(
            &id,
            None,
            LifecycleEvent::Uninstalled,
            Level::Info,
            format!("{id} was uninstalled"),
        );
        Ok(true)
    }

    /// Stops the plugin on this Core and removes its route and files; the
    /// store is left alone.
    pub(crate) async fn tear_down(&mut self) -> anyhow::Result<()> {
        self.cancel_restart();
        let running = self.current().cloned();
        self.set_current(None, false);
        if let Some(running) = running {
            running.drain_and_stop().await;
        }
        let dir = self.m.paths.plugin(&self.plugin.id);
        if dir.exists() {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        Ok(())
    }

    /// Core is stopping: no more traffic, and the process ends gracefully.
    pub(crate) async fn shutdown(&mut self) {
        self.cancel_restart();
        let running = self.current().cloned();
        self.set_current(running.clone(), false);
        self.set_state(PluginState::Stopped);
        if let Some(running) = running {
            running.stop(super::STOP_GRACE).await;
        }
    }
}
