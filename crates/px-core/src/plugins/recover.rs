//! Recovery at start (after a clean stop or a `SIGKILL`) and uninstall.

use std::sync::Arc;

use px_api::{InstallStatus, PluginState, Reason, ReasonCode};

use super::Manager;
use super::install::{Target, drain_and_stop};
use super::slot::Slot;

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
                name: "install.interrupted",
                phase: None,
                level: "warn",
                message: format!(
                    "install of revision {} was interrupted by a Core stop",
                    row.revision
                ),
                data: serde_json::Map::new(),
            });
        }

        // All database work first, then every start at once: a start writes
        // an audit row when it is done, and overlapping SQLite writers wait
        // on each other (busy timeout), which made this loop take seconds.
        let mut starts = Vec::new();
        for plugin in self.store.plugins().await? {
            let slot = self
                .slot_or_create(&plugin.id, PluginState::Starting)
                .await?;
            let target = match plugin.stable_revision {
                Some(revision) => self.stable_target(&plugin.id, revision).await,
                None => None,
            };
            match target {
                Some(target) => starts.push((slot, target)),
                None => slot.set_state(PluginState::Failed),
            }
        }
        for (slot, target) in starts {
            let manager = self.arc();
            tokio::spawn(async move { manager.start_recovered(slot, target).await });
        }
        self.start_following();
        Ok(())
    }

    async fn stable_target(&self, id: &str, revision: u64) -> Option<Target> {
        let digest = self
            .store
            .revision(id, revision)
            .await
            .ok()
            .flatten()
            .map(|r| r.digest)
            .unwrap_or_default();
        let dir = self
            .revision_on_disk(id, revision, &digest)
            .await
            .inspect_err(|error| {
                tracing::error!(
                    plugin = id,
                    revision,
                    "stable revision is not available: {error:#}"
                )
            })
            .ok()?;
        let manifest = px_manifest::load_dir(&dir)
            .inspect_err(|error| tracing::error!(plugin = id, revision, %error, "stable revision is unreadable"))
            .ok()?;
        Some(Target {
            manifest: Arc::new(manifest.manifest),
            revision,
            dir,
            digest,
        })
    }

    async fn start_recovered(&self, slot: Arc<Slot>, target: Target) {
        {
            let Some(_guard) = slot.lock().await else {
                return;
            };
            if slot.current().is_some() {
                return;
            }
            match self.launch(&slot, &target).await {
                Ok(running) => {
                    slot.point_to(Some(running.clone()));
                    slot.set_state(PluginState::Active);
                    self.audit_core(
                        "recover",
                        &slot.id,
                        Some(target.revision),
                        None,
                        "success",
                        None,
                    )
                    .await;
                    self.emit(
                        &slot,
                        Some(target.revision),
                        "plugin.started",
                        "info",
                        format!("revision {} started with Core", target.revision),
                        serde_json::Map::new(),
                    );
                    self.supervise(slot.clone(), running);
                    return;
                }
                Err(failure) => {
                    slot.set_state(PluginState::Restarting);
                    self.audit_core(
                        "recover",
                        &slot.id,
                        Some(target.revision),
                        None,
                        "failure",
                        Some(&failure.reason()),
                    )
                    .await;
                    let mut data = serde_json::Map::new();
                    data.insert(
                        "reason".into(),
                        serde_json::to_value(failure.reason()).unwrap_or_default(),
                    );
                    self.emit(
                        &slot,
                        Some(target.revision),
                        "plugin.crashed",
                        "error",
                        format!(
                            "revision {} did not start with Core: {}",
                            target.revision, failure.message
                        ),
                        data,
                    );
                }
            }
        }
        self.restart_loop(slot, None, target, 1).await;
    }

    /// An audit row for something Core did on its own.
    async fn audit_core(
        &self,
        action: &str,
        plugin_id: &str,
        revision: Option<u64>,
        install_id: Option<&str>,
        result: &str,
        reason: Option<&Reason>,
    ) {
        let entry = crate::store::audit::AuditEntry {
            actor: "core".to_owned(),
            action: action.to_owned(),
            plugin_id: Some(plugin_id.to_owned()),
            revision: revision.and_then(|r| i64::try_from(r).ok()),
            install_id: install_id.map(str::to_owned),
            result: result.to_owned(),
            reason: reason.map(|r| format!("{}: {}", r.code.as_str(), r.message)),
            ..Default::default()
        };
        if let Err(error) = self.store.audit_insert(entry).await {
            tracing::error!("cannot write audit row: {error:#}");
        }
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
        let Some(slot) = self.slot(id) else {
            return Ok(false);
        };
        let Some(_guard) = slot.lock().await else {
            return Ok(false);
        };
        let cluster = self.store.lock_plugin(id).await?;
        self.tear_down(&slot).await?;
        self.store.delete_plugin(id).await?;
        self.store.delete_plugin_token(id).await?;
        drop(cluster);
        self.emit(
            &slot,
            None,
            "plugin.uninstalled",
            "info",
            format!("{id} was uninstalled"),
            serde_json::Map::new(),
        );
        self.announce(id, "uninstall").await;
        Ok(true)
    }

    /// Stops a plugin on this Core and removes its route and files. The
    /// slot lock is held; the store is left alone.
    pub(crate) async fn tear_down(&self, slot: &Arc<Slot>) -> anyhow::Result<()> {
        slot.live().removed = true;
        let running = slot.current();
        slot.point_to(None);
        self.remove_slot(slot);
        if let Some(running) = running {
            drain_and_stop(running).await;
        }
        let dir = self.paths.plugin(&slot.id);
        if dir.exists() {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        Ok(())
    }
}
