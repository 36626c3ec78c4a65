//! Keeping stable revisions running (SPEC §3.3): each one is watched for
//! exits and probed at its `health.interval_ms`; a crash, or
//! `dev.liveness.failures` failed probes in a row, restarts it with
//! exponential backoff (100 ms doubling to 10 s) that grows with the crashes
//! of the last `dev.liveness.window_ms` — a healthy start does not reset it —
//! and more than `dev.liveness.max_restarts` of them put the plugin in
//! `crash_loop`, where Core stops restarting it until the next install or
//! rollback. Old revisions are pruned here too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use px_api::{PluginState, Reason, ReasonCode};
use px_manifest::RuntimeKind;
use px_runtime::Process;

use super::install::Target;
use super::launch;
use super::run::Failure;
use super::slot::{Running, Slot};
use super::{FAILED_START_GRACE, KEEP_RECENT, Manager};
use crate::events::Event;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Stderr lines kept with a crash.
const LOG_TAIL: usize = 20;

/// The pause before the restart that follows the `crashes`-th crash in the window.
pub(crate) fn backoff(crashes: u32) -> Duration {
    let doublings = crashes.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// What ended a stable revision's run.
fn crash_reason(process: &Process, status: std::process::ExitStatus) -> Reason {
    Reason {
        code: ReasonCode::Crashed,
        message: format!("the process exited ({status})"),
        log_tail: process.last_stderr(LOG_TAIL),
        details: Vec::new(),
    }
}

impl Manager {
    /// Watches a stable instance; when it exits on its own or stops
    /// answering its probes, restarts it (or gives up: `crash_loop`).
    pub(crate) fn supervise(&self, slot: Arc<Slot>, running: Arc<Running>) {
        let Some(process) = running.process.clone() else {
            return;
        };
        let manager = self.arc();
        tokio::spawn(async move {
            let reason = manager.watch(&running, &process).await;
            if running.stopping.load(Ordering::SeqCst)
                || manager.shutting_down.load(Ordering::SeqCst)
            {
                return;
            }
            let crashes = {
                let Some(_guard) = slot.lock().await else {
                    return;
                };
                let current = slot.current().map(|r| r.serial);
                if current != Some(running.serial) || running.stopping.load(Ordering::SeqCst) {
                    return;
                }
                slot.set_current_unrouted(Some(running.clone()));
                // an unhealthy process is still running: end it before its replacement starts
                running.stopping.store(true, Ordering::SeqCst);
                process.stop(FAILED_START_GRACE).await;
                manager
                    .note_crash(&slot, running.revision, &reason, "plugin.crashed")
                    .await
            };
            if let Some(crashes) = crashes {
                manager
                    .restart_loop(slot, Some(running.serial), running.target(), crashes)
                    .await;
            }
        });
    }

    /// Waits until `process` exits or fails `dev.liveness.failures` probes
    /// in a row, and says which. After a deliberate stop the caller finds
    /// `running.stopping` set and ignores the answer.
    async fn watch(&self, running: &Running, process: &Process) -> Reason {
        let health = &running.manifest.runtime.health;
        let interval = Duration::from_millis(health.interval_ms.max(1));
        let allowed = self.config.policy.dev.liveness.failures.max(1);
        let mut failed = 0;
        loop {
            tokio::select! {
                status = process.exited() => return crash_reason(process, status),
                () = tokio::time::sleep(interval) => {}
            }
            if running.stopping.load(Ordering::SeqCst) {
                // a deliberate stop follows; the exit is not a crash
                return crash_reason(process, process.exited().await);
            }
            let Some(port) = running.backend.port else {
                continue;
            };
            let answer = match px_runtime::probe_health(port, &health.path).await {
                Ok(code) if (200..300).contains(&code) => {
                    failed = 0;
                    continue;
                }
                Ok(code) => format!("answered {code}"),
                Err(error) => format!("failed: {}", super::receive::error_chain(&error)),
            };
            failed += 1;
            if failed >= allowed {
                return Reason {
                    code: ReasonCode::Unhealthy,
                    message: format!(
                        "GET {} {answer}; {failed} probes in a row failed (every {} ms)",
                        health.path,
                        interval.as_millis()
                    ),
                    log_tail: process.last_stderr(LOG_TAIL),
                    details: Vec::new(),
                };
            }
        }
    }

    /// Counts a crash of the slot's stable revision (the slot lock is held)
    /// and says so with `event` (or `plugin.crash_loop`). `Some(crashes in
    /// the window)` when it is to be restarted, `None` when that was one too
    /// many and the plugin is now in `crash_loop`.
    async fn note_crash(
        &self,
        slot: &Arc<Slot>,
        revision: u64,
        reason: &Reason,
        event: &'static str,
    ) -> Option<u32> {
        let liveness = &self.config.policy.dev.liveness;
        let window = Duration::from_millis(liveness.window_ms);
        let (crashes, restarts) = {
            let mut live = slot.live();
            let crashes = live.note_crash(window);
            live.state = if crashes > liveness.max_restarts {
                PluginState::CrashLoop
            } else {
                PluginState::Restarting
            };
            (crashes, live.restarts)
        };
        if let Err(error) = self
            .store
            .record_outcome(&slot.id, Some(reason), None)
            .await
        {
            tracing::warn!(plugin = %slot.id, "cannot record the crash: {error:#}");
        }
        let mut data = serde_json::Map::new();
        data.insert(
            "reason".into(),
            serde_json::to_value(reason).unwrap_or_default(),
        );
        data.insert("crashes".into(), crashes.into());
        if crashes > liveness.max_restarts {
            self.emit(
                slot,
                Some(revision),
                "plugin.crash_loop",
                "error",
                format!(
                    "revision {revision} failed {crashes} times within {} s ({}: {}); \
                     not restarted again until the next install or rollback",
                    window.as_secs(),
                    reason.code.as_str(),
                    reason.message
                ),
                data,
            );
            return None;
        }
        let wait = backoff(crashes);
        data.insert(
            "retry_in_ms".into(),
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).into(),
        );
        data.insert("restarts".into(), restarts.into());
        self.emit(
            slot,
            Some(revision),
            event,
            "error",
            format!(
                "revision {revision} {}: {}; restarting in {} ms",
                reason.code.as_str(),
                reason.message,
                wait.as_millis()
            ),
            data,
        );
        Some(crashes)
    }

    /// Starts `target` until it is healthy, waiting [`backoff`] of the
    /// crashes so far before each attempt (a failed attempt counts as one
    /// more). Stops as soon as the slot's current instance is no longer
    /// `expected` (an install or uninstall took over), or in `crash_loop`.
    pub(crate) async fn restart_loop(
        &self,
        slot: Arc<Slot>,
        expected: Option<u64>,
        target: Target,
        mut crashes: u32,
    ) {
        loop {
            tokio::time::sleep(backoff(crashes)).await;
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
                    let reason = failure.reason();
                    let event = "plugin.restart_failed";
                    match self
                        .note_crash(&slot, target.revision, &reason, event)
                        .await
                    {
                        Some(now) => crashes = now,
                        None => return,
                    }
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
