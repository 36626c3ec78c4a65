//! The one way a revision goes live, for every cause: install, rollback,
//! follow (several Cores), restart and recovery.
//!
//! start → health → swap, then for a new stable revision (install,
//! rollback) probation and the stable mark; then the counters, the watcher,
//! and the old instance drained and stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use px_api::{Phase, ProcessRole, ReasonCode};

use super::launch::{self, LaunchSpec};
use super::route::Backend;
use super::run::{Failure, OrInternal, Run};
use super::running::{Plugin, Running, Target, stop_all};
use super::task::PluginTask;
use super::{FAILED_START_GRACE, Manager};

/// Why a revision is going live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Install,
    Rollback,
    /// Another Core made it stable.
    Follow,
    /// It is the stable revision and crashed.
    Restart,
    /// It is the stable revision and Core started.
    Recover,
}

impl Cause {
    /// A revision that is not stable yet: watched through probation, then
    /// recorded as the stable one.
    fn becomes_stable(self) -> bool {
        matches!(self, Cause::Install | Cause::Rollback)
    }
}

impl PluginTask {
    /// Brings `target` live. Before the swap a failure leaves the current
    /// instance as it was; in probation it brings it back.
    pub(crate) async fn go_live(
        &mut self,
        run: &mut Run,
        target: Target,
        cause: Cause,
    ) -> Result<(), Failure> {
        let old = self.current().cloned();
        let serial = self.next_serial();
        let new = self.m.start(run, &self.plugin, target, serial).await?;

        let swap = Instant::now();
        self.set_current(Some(new.clone()), true);
        run.record(Phase::Swap, swap, true);

        if cause.becomes_stable() {
            if let Err(failure) = self.m.probation(run, &new).await {
                new.stop(FAILED_START_GRACE).await;
                self.restore(old);
                return Err(failure);
            }
            self.m
                .store
                .set_stable_revision(&self.plugin.id, Some(new.revision()))
                .await
                .or_internal()?;
        }
        if cause == Cause::Restart {
            self.restarted();
        } else {
            self.went_live();
        }
        self.watch(&new);
        if let Some(old) = old {
            tokio::spawn(async move { old.drain_and_stop().await });
        }
        Ok(())
    }

    /// After a failed probation: traffic back to the old instance. If it
    /// died meanwhile it stays current unrouted: its watcher reports the
    /// exit, or already did and its restart is pending.
    fn restore(&mut self, old: Option<Arc<Running>>) {
        let routed = old.as_ref().is_some_and(|o| o.is_alive());
        self.set_current(old, routed);
    }
}

impl Manager {
    /// start → health (phases of `run`) of every process of the revision,
    /// together: when one fails, all are stopped. A static revision without
    /// an admin process has neither phase.
    async fn start(
        &self,
        run: &mut Run,
        plugin: &Plugin,
        target: Target,
        serial: u64,
    ) -> Result<Arc<Running>, Failure> {
        let spec = self.launch_spec(plugin, &target);
        let roles = spec.roles();
        let mut processes = Vec::with_capacity(roles.len());
        if !roles.is_empty() {
            let spawned = run
                .phase(Phase::Start, async {
                    for role in roles {
                        match launch::spawn(&self.spawner, &self.events, &self.paths, &spec, role)
                            .await
                        {
                            Ok(started) => processes.push(started),
                            Err(failure) => {
                                stop_all(&processes, FAILED_START_GRACE).await;
                                return Err(failure);
                            }
                        }
                    }
                    Ok(())
                })
                .await;
            spawned?;
            let limit = self.config.policy.dev.health_timeout_ms;
            let healthy = run
                .phase(Phase::Health, async {
                    let checks = processes
                        .iter()
                        .map(|started| launch::await_health(&spec, started, limit));
                    let failed = futures_util::future::join_all(checks)
                        .await
                        .into_iter()
                        .find_map(Result::err);
                    match failed {
                        Some(failure) => {
                            stop_all(&processes, FAILED_START_GRACE).await;
                            Err(failure)
                        }
                        None => Ok(()),
                    }
                })
                .await;
            healthy?;
        }
        let port = |role| {
            processes
                .iter()
                .find(|p: &&launch::Started| p.role == role)
                .map(|p| p.port)
        };
        let backend = Backend::new(
            &target.manifest.id,
            target.revision,
            (port(ProcessRole::Backend), port(ProcessRole::Admin)),
            &target.manifest.runtime.http_base_path,
            plugin.gateway.clone(),
        );
        Ok(Arc::new(Running {
            serial,
            backend: Arc::new(backend),
            target,
            processes,
        }))
    }

    /// Watches a swapped-in revision for `dev.probation_ms`; an exit fails it.
    async fn probation(&self, run: &mut Run, new: &Running) -> Result<(), Failure> {
        if new.processes.is_empty() {
            return Ok(());
        }
        let probation = Instant::now();
        let limit = Duration::from_millis(self.config.policy.dev.probation_ms);
        // no timer for a zero probation: a tokio sleep rounds up to the next 1 ms tick
        let crashed = if limit.is_zero() {
            new.processes
                .iter()
                .find_map(|p| Some((p, p.process.exit_status()?)))
        } else {
            let exits = new
                .processes
                .iter()
                .map(|p| Box::pin(async move { (p, p.process.exited().await) }));
            tokio::select! {
                () = tokio::time::sleep(limit) => None,
                (first, _, _) = futures_util::future::select_all(exits) => Some(first),
            }
        };
        run.record(Phase::Probation, probation, crashed.is_none());
        let Some((started, status)) = crashed else {
            return Ok(());
        };
        Err(Failure::runtime(
            ReasonCode::CrashedInProbation,
            launch::named(
                new.manifest(),
                started.role,
                format!(
                    "the process exited {} ms after the swap ({status})",
                    probation.elapsed().as_millis()
                ),
            ),
            started.process.last_stderr(20),
        ))
    }

    pub(crate) fn launch_spec<'a>(
        &'a self,
        plugin: &'a Plugin,
        target: &'a Target,
    ) -> LaunchSpec<'a> {
        LaunchSpec {
            manifest: &target.manifest,
            revision: target.revision,
            dir: &target.dir,
            token: &plugin.token,
            core_url: &self.config.core_url,
            gateway: &plugin.gateway,
        }
    }
}
