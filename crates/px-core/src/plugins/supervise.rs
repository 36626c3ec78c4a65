//! Keeping stable revisions running (SPEC §3.3): each live instance has a
//! watcher that waits for its exit and probes it at its `health.interval_ms`,
//! each probe within `health.probe_timeout_ms` (default: the interval);
//! an exit, or `dev.liveness.failures` failed probes in a row, reaches the
//! plugin's task as [`Msg::Failed`], which restarts it with exponential
//! backoff (100 ms doubling to 10 s) that grows with the crashes of the last
//! `dev.liveness.window_ms` — a healthy start does not reset it — and more
//! than `dev.liveness.max_restarts` of them put the plugin in `crash_loop`,
//! where Core stops restarting it until the next install or rollback. Old
//! revisions are pruned here too.

use std::sync::Arc;
use std::time::Duration;

use px_api::{Crash, Level, LifecycleEvent, PluginState, Reason, ReasonCode};

use super::launch::{self, Started};
use super::live::Cause;
use super::run::Run;
use super::running::Running;
use super::task::{Msg, PluginTask};
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

/// Waits until one process of `running` exits or fails `failures` probes
/// in a row and says why, naming the process when the revision has two;
/// `None` once the revision was retired (a deliberate stop is not a crash).
async fn watch(running: &Running, started: &Started, failures: u32) -> Option<Reason> {
    let manifest = running.manifest();
    let (role, process) = (started.role, &started.process);
    let health = launch::health(manifest, role);
    let interval = Duration::from_millis(health.interval_ms.max(1));
    let probe_timeout = health
        .probe_timeout_ms
        .map_or(interval, |ms| Duration::from_millis(ms.max(1)));
    let reason = |code, message| Reason {
        code,
        message: launch::named(manifest, role, message),
        log_tail: process.last_stderr(LOG_TAIL),
        details: Vec::new(),
    };
    let mut failed = 0;
    loop {
        tokio::select! {
            status = process.exited() => {
                running.backend.mark_down();
                let message = format!("the process exited ({status})");
                return (!running.backend.is_retired()).then(|| reason(ReasonCode::Crashed, message));
            }
            () = tokio::time::sleep(interval) => {}
        }
        if running.backend.is_retired() {
            return None;
        }
        let probe = px_runtime::probe_health(started.port, &health.path, probe_timeout);
        let answer = match probe.await {
            Ok(code) if (200..300).contains(&code) => {
                failed = 0;
                continue;
            }
            Ok(code) => format!("answered {code}"),
            Err(error) => format!("failed: {}", super::receive::error_chain(&error)),
        };
        failed += 1;
        if failed >= failures {
            let message = format!(
                "GET {} {answer}; {failed} probes in a row failed (every {} ms)",
                health.path,
                interval.as_millis()
            );
            return Some(reason(ReasonCode::Unhealthy, message));
        }
    }
}

impl PluginTask {
    /// Starts a watcher per process of a live instance; they report to this task.
    pub(crate) fn watch(&self, running: &Arc<Running>) {
        let failures = self.m.config.policy.dev.liveness.failures.max(1);
        for started in running.processes.clone() {
            let running = running.clone();
            let mailbox = self.mailbox();
            tokio::spawn(async move {
                if let Some(reason) = watch(&running, &started, failures).await {
                    let serial = running.serial;
                    let _ = mailbox.send(Msg::Failed { serial, reason });
                }
            });
        }
    }

    /// Instance `serial` crashed or turned unhealthy: stop it and restart it
    /// after the backoff, unless it is no longer current (replaced meanwhile).
    pub(crate) async fn failed(&mut self, serial: u64, reason: Reason) {
        let Some(running) = self.current().filter(|r| r.serial == serial).cloned() else {
            return;
        };
        self.set_current(Some(running.clone()), false);
        // an unhealthy process is still running: end it before its replacement starts
        running.stop(FAILED_START_GRACE).await;
        let revision = running.revision();
        if let Some(wait) = self
            .note_crash(revision, &reason, LifecycleEvent::Crashed)
            .await
        {
            self.schedule_restart(running.target.clone(), wait);
        }
    }

    /// The pending restart's backoff is over: start it again.
    pub(crate) async fn restart_now(&mut self) {
        let Some(target) = self.take_restart() else {
            return;
        };
        let revision = target.revision;
        let mut run = Run::quiet(self.m.events.clone());
        match self.go_live(&mut run, target.clone(), Cause::Restart).await {
            Ok(()) => {
                let restarts = self.restarts();
                self.m.emit(
                    &self.plugin.id,
                    Some(revision),
                    LifecycleEvent::Restarted { restarts },
                    Level::Info,
                    format!("revision {revision} is running again"),
                );
            }
            Err(failure) => {
                let reason = failure.reason();
                let event = LifecycleEvent::RestartFailed;
                if let Some(wait) = self.note_crash(revision, &reason, event).await {
                    self.schedule_restart(target, wait);
                }
            }
        }
    }

    /// Counts a crash of the stable revision and says so with the event
    /// `event` makes (or `plugin.crash_loop`). `Some(backoff)` when it is to be restarted,
    /// `None` when that was one too many and the plugin is now in `crash_loop`.
    pub(crate) async fn note_crash(
        &mut self,
        revision: u64,
        reason: &Reason,
        event: fn(Crash) -> LifecycleEvent,
    ) -> Option<Duration> {
        let liveness = &self.m.config.policy.dev.liveness;
        let window = Duration::from_millis(liveness.window_ms);
        let max_restarts = liveness.max_restarts;
        let crashes = self.note_crash_at(window);
        let looping = crashes > max_restarts;
        self.set_state(if looping {
            PluginState::CrashLoop
        } else {
            PluginState::Restarting
        });
        let id = self.plugin.id.clone();
        if let Err(error) = self.m.store.record_outcome(&id, Some(reason), None).await {
            tracing::warn!(plugin = %id, "cannot record the crash: {error:#}");
        }
        let mut crash = Crash {
            reason: reason.clone(),
            crashes: Some(crashes),
            retry_in_ms: None,
            restarts: None,
        };
        if looping {
            self.cancel_restart();
            self.m.emit(
                &id,
                Some(revision),
                LifecycleEvent::CrashLoop(crash),
                Level::Error,
                format!(
                    "revision {revision} failed {crashes} times within {} s ({}: {}); \
                     not restarted again until the next install or rollback",
                    window.as_secs(),
                    reason.code.as_str(),
                    reason.message
                ),
            );
            return None;
        }
        let wait = backoff(crashes);
        crash.retry_in_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        crash.restarts = Some(self.restarts());
        self.m.emit(
            &id,
            Some(revision),
            event(crash),
            Level::Error,
            format!(
                "revision {revision} {}: {}; restarting in {} ms",
                reason.code.as_str(),
                reason.message,
                wait.as_millis()
            ),
        );
        Some(wait)
    }

    /// Removes revision directories and rows beyond the stable one, the
    /// current one and the [`KEEP_RECENT`] newest.
    pub(crate) async fn prune(&self) {
        let id = &self.plugin.id;
        let m = &self.m;
        let Ok(Some(plugin)) = m.store.plugin(id).await else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(m.paths.revisions(id)) else {
            return;
        };
        let mut revisions: Vec<u64> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        revisions.sort_unstable_by(|a, b| b.cmp(a));
        let current = self.current().map(|r| r.revision());
        for (index, revision) in revisions.into_iter().enumerate() {
            let keep = index < KEEP_RECENT
                || Some(revision) == plugin.stable_revision
                || Some(revision) == current;
            if keep {
                continue;
            }
            let _ = std::fs::remove_dir_all(m.paths.revision(id, revision));
            if let Err(error) = m.store.delete_revision(id, revision).await {
                tracing::warn!(%error, plugin = %id, revision, "cannot forget pruned revision");
            }
        }
    }
}

impl Manager {
    /// Publishes a Core event about a plugin, outside any install.
    pub(crate) fn emit(
        &self,
        plugin_id: &str,
        revision: Option<u64>,
        event: LifecycleEvent,
        level: Level,
        message: String,
    ) {
        self.events.event(Event {
            plugin_id: plugin_id.to_owned(),
            revision,
            install_id: None,
            event,
            phase: None,
            level,
            message,
        });
    }
}
