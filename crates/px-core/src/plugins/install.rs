//! Install, hot reload and rollback: the lifecycle of SPEC §3.3.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use px_api::{InstallStatus, Phase, PluginState, ReasonCode};
use px_manifest::{Manifest, RuntimeKind};

use super::launch::{self, LaunchSpec};
use super::receive::{self, Source, error_chain};
use super::run::{Failure, FailureKind, InstallOutcome, OrInternal, Run};
use super::slot::{Backend, Running, Slot};
use super::{Manager, check};
use crate::store::plugins::{INSTALLING, RevisionRow};

/// A revision ready to go live.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub manifest: Arc<Manifest>,
    pub revision: u64,
    pub dir: PathBuf,
    pub digest: String,
}

impl Manager {
    /// Installs or hot-reloads a plugin; answers once the new revision is
    /// live (after probation) or has failed.
    pub async fn install(&self, source: Source) -> InstallOutcome {
        let mut run = Run::new(self.events.clone(), "installing");
        let staging = self.paths.staging(&run.install_id);
        let result = self.install_steps(&mut run, source, &staging).await;
        if staging.exists() {
            let _ = tokio::fs::remove_dir_all(&staging).await;
        }
        let outcome = self.conclude(run, result).await;
        self.announce(&outcome.report.plugin_id, "install").await;
        outcome
    }

    /// Goes back to the stable revision, or to `revision` if still on disk,
    /// through start → health → swap → probation. `None` = unknown plugin.
    pub async fn rollback(&self, id: &str, revision: Option<u64>) -> Option<InstallOutcome> {
        let slot = self.slot(id)?;
        let _guard = slot.lock().await?;
        let mut run = Run::new(self.events.clone(), "rolling back");
        let result = self.rollback_steps(&mut run, &slot, revision).await;
        let outcome = self.conclude(run, result).await;
        self.announce(id, "rollback").await;
        Some(outcome)
    }

    async fn rollback_steps(
        &self,
        run: &mut Run,
        slot: &Arc<Slot>,
        revision: Option<u64>,
    ) -> Result<(), Failure> {
        run.plugin_id = slot.id.clone();
        let _cluster = self.store.lock_plugin(&slot.id).await.or_internal()?;
        let stable = self
            .store
            .plugin(&slot.id)
            .await
            .or_internal()?
            .and_then(|p| p.stable_revision);
        let target = revision
            .or(stable)
            .ok_or_else(|| Failure::bad_request(format!("{} has no stable revision", slot.id)))?;
        let row = self.store.revision(&slot.id, target).await.or_internal()?;
        let fetched = match &row {
            Some(row) => self.revision_on_disk(&slot.id, target, &row.digest).await,
            None => Err(anyhow::anyhow!("no such revision")),
        };
        let dir = fetched.unwrap_or_else(|_| self.paths.revision(&slot.id, target));
        let Some(row) = row.filter(|_| dir.is_dir()) else {
            return Err(Failure::bad_request(format!(
                "revision {target} is no longer on disk"
            )));
        };
        run.revision = Some(target);
        run.announce(&slot.id, &row.version);
        let manifest = px_manifest::load_dir(&dir).map_err(|e| {
            Failure::new(
                FailureKind::Invalid,
                ReasonCode::ManifestInvalid,
                error_chain(&e),
            )
        })?;
        let target = Target {
            manifest: Arc::new(manifest.manifest),
            revision: target,
            dir,
            digest: row.digest,
        };
        self.go_live(run, slot, target).await
    }

    async fn install_steps(
        &self,
        run: &mut Run,
        source: Source,
        staging: &Path,
    ) -> Result<(), Failure> {
        let policy = &self.config.policy.dev;
        let digest = run
            .phase(Phase::Receive, self.receive(source, staging))
            .await?;
        let validate = Instant::now();
        let manifest = check::validate(staging, &policy.plugin_ids);
        let named = match &manifest {
            Ok(manifest) => Some((manifest.id.clone(), manifest.version.clone())),
            Err(_) => check::guess_id(staging),
        };
        if let Some((id, version)) = named {
            run.announce(&id, &version);
        }
        run.record(Phase::Validate, validate, manifest.is_ok());
        let manifest = manifest?;
        let (slot, _guard) = loop {
            let slot = self
                .slot_or_create(&manifest.id, PluginState::Starting)
                .await
                .or_internal()?;
            if let Some(guard) = slot.lock().await {
                break (slot, guard);
            }
        };
        // the same plugin's installs on other Cores of a shared database wait too
        let _cluster = self.store.lock_plugin(&slot.id).await.or_internal()?;
        let others = self.all_slots();
        let resolved = run
            .phase(Phase::Resolve, async { check::resolve(&manifest, &others) })
            .await;
        let staged = match resolved {
            Ok(()) => {
                let (install_id, phases) = (run.install_id.clone(), run.phases.clone());
                run.phase(
                    Phase::Stage,
                    self.stage(&install_id, phases, &manifest, &digest, staging),
                )
                .await
            }
            Err(failure) => Err(failure),
        };
        let revision = match staged {
            Ok(revision) => revision,
            Err(failure) => {
                self.forget_if_never_staged(&slot).await;
                return Err(failure);
            }
        };
        run.revision = Some(revision);
        let target = Target {
            manifest: Arc::new(manifest),
            revision,
            dir: self.paths.revision(&slot.id, revision),
            digest,
        };
        let result = match self.migrate(run, &slot, &target).await {
            Ok(()) => self.go_live(run, &slot, target).await,
            Err(failure) => {
                settle_failed(&slot);
                Err(failure)
            }
        };
        let (status, reason) = match &result {
            Ok(()) => (InstallStatus::Active, None),
            Err(f) => (f.install_status(), Some(f.reason())),
        };
        self.store
            .finish_revision(
                &slot.id,
                revision,
                status,
                reason.as_ref(),
                &run.phases,
                run.elapsed_ms(),
            )
            .await
            .or_internal()?;
        result
    }

    async fn receive(&self, source: Source, staging: &Path) -> Result<String, Failure> {
        match source {
            Source::Dir(dir) => {
                let allowed = self.config.allowed_dirs();
                let staging = staging.to_owned();
                tokio::task::spawn_blocking(move || receive::copy_dir(&dir, &allowed, &staging))
                    .await
                    .map_err(|e| Failure::internal(&anyhow::anyhow!("copy task failed: {e}")))?
            }
            Source::Bundle(body) => {
                let max = self.config.policy.dev.max_bundle_bytes;
                receive::unpack_body(body, staging.to_owned(), max).await
            }
        }
    }

    /// A plugin rejected on its first install leaves nothing behind.
    async fn forget_if_never_staged(&self, slot: &Arc<Slot>) {
        if slot.current().is_some() {
            return;
        }
        if let Ok(None) = self.store.plugin(&slot.id).await {
            slot.live().removed = true;
            self.remove_slot(slot);
            let _ = self.store.delete_plugin_token(&slot.id).await;
        }
    }

    /// Moves the staged files into a fresh revision directory (one rename) and records it.
    async fn stage(
        &self,
        install_id: &str,
        phases: Vec<px_api::PhaseReport>,
        manifest: &Manifest,
        digest: &str,
        staging: &Path,
    ) -> Result<u64, Failure> {
        let id = &manifest.id;
        let kind = match manifest.runtime.kind {
            RuntimeKind::Process => "process",
            RuntimeKind::Static => "static",
        };
        self.store
            .upsert_plugin(id, &manifest.name, kind)
            .await
            .or_internal()?;
        let revision = self.store.next_revision(id).await.or_internal()?;
        let target = self.paths.revision(id, revision);
        let moved = (|| {
            std::fs::create_dir_all(self.paths.revisions(id))?;
            if target.exists() {
                // left by a Core that died between this rename and the row below
                std::fs::remove_dir_all(&target)?;
            }
            std::fs::rename(staging, &target)
        })();
        moved
            .map_err(|e| Failure::internal(&anyhow::anyhow!("staging revision {revision}: {e}")))?;
        self.store
            .insert_revision(&RevisionRow {
                plugin_id: id.clone(),
                revision,
                install_id: install_id.to_owned(),
                version: manifest.version.clone(),
                digest: digest.to_owned(),
                status: INSTALLING.to_owned(),
                reason: None,
                phases,
                duration_ms: 0,
                created_at: crate::store::now_ms(),
            })
            .await
            .or_internal()?;
        if let Err(failure) = self.publish_revision(id, revision, &target).await {
            let _ = self.store.delete_revision(id, revision).await;
            let _ = std::fs::remove_dir_all(&target);
            return Err(failure);
        }
        Ok(revision)
    }

    /// start → health → swap → probation, rolling back on failure. The slot lock is held.
    async fn go_live(
        &self,
        run: &mut Run,
        slot: &Arc<Slot>,
        target: Target,
    ) -> Result<(), Failure> {
        let old = slot.current();
        let result = self.go_live_steps(run, slot, &target, old.clone()).await;
        if result.is_err() {
            settle_failed(slot);
        }
        result
    }

    async fn go_live_steps(
        &self,
        run: &mut Run,
        slot: &Arc<Slot>,
        target: &Target,
        old: Option<Arc<Running>>,
    ) -> Result<(), Failure> {
        let manifest = &target.manifest;
        let new = if manifest.runtime.kind == RuntimeKind::Static {
            self.running(target, None, None)
        } else {
            let spec = self.launch_spec(slot, target);
            let (process, port) = run
                .phase(
                    Phase::Start,
                    launch::spawn(&self.spawner, &self.events, &self.paths, &spec),
                )
                .await?;
            let health_limit = self.config.policy.dev.health_timeout_ms;
            run.phase(
                Phase::Health,
                launch::await_health(&process, port, manifest, health_limit),
            )
            .await?;
            self.running(target, Some(process), Some(port))
        };

        let swap = Instant::now();
        slot.point_to(Some(new.clone()));
        run.record(Phase::Swap, swap, true);

        if let Some(process) = &new.process {
            let probation = Instant::now();
            let limit = Duration::from_millis(self.config.policy.dev.probation_ms);
            // no timer for a zero probation: a tokio sleep rounds up to the next 1 ms tick
            let crashed = if limit.is_zero() {
                process.exit_status()
            } else {
                tokio::select! {
                    () = tokio::time::sleep(limit) => None,
                    status = process.exited() => Some(status),
                }
            };
            run.record(Phase::Probation, probation, crashed.is_none());
            if let Some(status) = crashed {
                new.stopping.store(true, Ordering::SeqCst);
                new.backend.retire();
                self.restore(slot, old);
                return Err(Failure::runtime(
                    ReasonCode::CrashedInProbation,
                    format!(
                        "the process exited {} ms after the swap ({status})",
                        probation.elapsed().as_millis()
                    ),
                    process.last_stderr(20),
                ));
            }
        }

        self.store
            .set_stable_revision(&slot.id, Some(target.revision))
            .await
            .or_internal()?;
        slot.live().went_live();
        self.supervise(slot.clone(), new);
        if let Some(old) = old {
            tokio::spawn(drain_and_stop(old));
        }
        let manager = self.arc();
        let slot = slot.clone();
        tokio::spawn(async move { manager.prune(&slot).await });
        Ok(())
    }

    /// After a failed probation: traffic back to the old instance, or, if it
    /// died meanwhile, restart it with backoff.
    fn restore(&self, slot: &Arc<Slot>, old: Option<Arc<Running>>) {
        match old {
            Some(old) if old.is_alive() => slot.point_to(Some(old)),
            Some(old) => {
                slot.set_current_unrouted(Some(old.clone()));
                let manager = self.arc();
                let slot = slot.clone();
                tokio::spawn(async move {
                    manager
                        .restart_loop(slot, Some(old.serial), old.target(), 1)
                        .await
                });
            }
            None => slot.point_to(None),
        }
    }

    pub(crate) fn launch_spec<'a>(&'a self, slot: &'a Slot, target: &'a Target) -> LaunchSpec<'a> {
        LaunchSpec {
            manifest: &target.manifest,
            revision: target.revision,
            dir: &target.dir,
            token: &slot.token,
            core_url: &self.config.core_url,
        }
    }

    pub(crate) fn running(
        &self,
        target: &Target,
        process: Option<px_runtime::Process>,
        port: Option<u16>,
    ) -> Arc<Running> {
        let manifest = &target.manifest;
        Arc::new(Running {
            serial: self.next_serial(),
            revision: target.revision,
            manifest: manifest.clone(),
            digest: target.digest.clone(),
            dir: target.dir.clone(),
            process,
            backend: Arc::new(Backend::new(
                &manifest.id,
                target.revision,
                port,
                &manifest.runtime.http_base_path,
            )),
            stopping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    async fn conclude(&self, run: Run, result: Result<(), Failure>) -> InstallOutcome {
        let mut stable = None;
        if !run.plugin_id.is_empty() {
            let reason = result.as_ref().err().map(Failure::reason);
            let _ = self
                .store
                .record_outcome(&run.plugin_id, reason.as_ref(), Some(run.elapsed_ms()))
                .await;
            // a success made the new revision stable: no need to read it back
            stable = match (&result, run.revision) {
                (Ok(()), Some(revision)) => Some(revision),
                _ => self
                    .store
                    .plugin(&run.plugin_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|p| p.stable_revision),
            };
        }
        let failure = result.as_ref().err().map(|f| f.kind);
        let report = run.finish(result.as_ref().map(|_| ()), stable);
        InstallOutcome { failure, report }
    }
}

impl Running {
    pub(crate) fn target(&self) -> Target {
        Target {
            manifest: self.manifest.clone(),
            revision: self.revision,
            dir: self.dir.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// After a failed install: rolled back when a revision still serves, else failed.
fn settle_failed(slot: &Slot) {
    let serving = slot.current().is_some_and(|r| r.is_alive());
    slot.set_state(if serving {
        PluginState::RolledBack
    } else {
        PluginState::Failed
    });
}

/// Retires an old instance: new requests go elsewhere, in-flight ones finish
/// (bounded by [`super::DRAIN_LIMIT`]), then the process is stopped.
pub(crate) async fn drain_and_stop(old: Arc<Running>) {
    old.backend.retire();
    let deadline = Instant::now() + super::DRAIN_LIMIT;
    while old.backend.inflight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    old.stopping.store(true, Ordering::SeqCst);
    if let Some(process) = &old.process {
        process.stop(super::STOP_GRACE).await;
    }
}

impl Manager {
    /// A report for a request refused before any phase ran (bad body, too large).
    pub fn reject(&self, kind: FailureKind, code: ReasonCode, message: String) -> InstallOutcome {
        let run = Run::new(self.events.clone(), "installing");
        let failure = Failure::new(kind, code, message);
        let report = run.finish(Err(&failure), None);
        InstallOutcome {
            failure: Some(kind),
            report,
        }
    }
}
