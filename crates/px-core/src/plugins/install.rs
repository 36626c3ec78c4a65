//! Install, hot reload and rollback: the lifecycle of SPEC §3.3.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use px_api::{InstallStatus, Phase, ReasonCode};
use px_manifest::{Manifest, RuntimeKind};
use tokio::sync::oneshot;

use super::live::Cause;
use super::receive::{self, Source, error_chain};
use super::run::{Failure, FailureKind, InstallOutcome, OrInternal, Run};
use super::running::Target;
use super::task::{Msg, Next, PluginTask};
use super::{Manager, check, resolved};
use crate::store::cluster::ChangeAction;
use crate::store::plugins::{PluginKind, RevisionRow, RevisionStatus};

/// A validated revision for a plugin's task to install.
#[derive(Debug)]
pub(crate) struct InstallJob {
    pub manifest: Manifest,
    pub digest: String,
    pub staging: PathBuf,
}

impl Manager {
    /// Installs or hot-reloads a plugin; answers once the new revision is
    /// live (after probation) or has failed.
    pub async fn install(&self, source: Source) -> InstallOutcome {
        let mut run = Run::new(self.events.clone(), "installing");
        let staging = self.paths.staging(&run.install_id);
        let result = match self.prepare(&mut run, source, &staging).await {
            Ok(job) => {
                let id = job.manifest.id.clone();
                let (reply, answer) = oneshot::channel();
                self.deliver(
                    &id,
                    Msg::Install {
                        job: Box::new(job),
                        run,
                        reply,
                    },
                    true,
                )
                .await;
                match answer.await {
                    Ok((back, result)) => {
                        run = back;
                        result
                    }
                    Err(_) => {
                        run = Run::new(self.events.clone(), "installing");
                        Err(lost_task())
                    }
                }
            }
            Err(failure) => Err(failure),
        };
        if staging.exists() {
            let _ = tokio::fs::remove_dir_all(&staging).await;
        }
        let outcome = self.conclude(run, result).await;
        self.announce(&outcome.report.plugin_id, ChangeAction::Install)
            .await;
        outcome
    }

    /// Goes back to the stable revision, or to `revision` if still on disk,
    /// through start → health → swap → probation. `None` = unknown plugin.
    pub async fn rollback(&self, id: &str, revision: Option<u64>) -> Option<InstallOutcome> {
        let run = Run::new(self.events.clone(), "rolling back");
        let (reply, answer) = oneshot::channel();
        self.deliver(
            id,
            Msg::Rollback {
                revision,
                run,
                reply,
            },
            false,
        )
        .await;
        let (run, result) = match answer.await {
            Ok(ran) => ran?,
            Err(_) => (
                Run::new(self.events.clone(), "rolling back"),
                Err(lost_task()),
            ),
        };
        let outcome = self.conclude(run, result).await;
        self.announce(id, ChangeAction::Rollback).await;
        Some(outcome)
    }

    /// receive → validate: a bundle or directory becomes an [`InstallJob`].
    async fn prepare(
        &self,
        run: &mut Run,
        source: Source,
        staging: &Path,
    ) -> Result<InstallJob, Failure> {
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
        Ok(InstallJob {
            manifest: manifest?,
            digest,
            staging: staging.to_owned(),
        })
    }

    /// Revision `revision` of `id` as resolved at its stage (the files from
    /// this Core's disk or, several Cores, the artifact store).
    pub(crate) async fn stored_target(&self, id: &str, revision: u64) -> Result<Target, Failure> {
        let gone = || Failure::bad_request(format!("revision {revision} is no longer on disk"));
        let row = self.store.revision(id, revision).await.or_internal()?;
        let Some(row) = row else {
            return Err(gone());
        };
        let dir = match self.revision_on_disk(id, revision, &row.digest).await {
            Ok(dir) if dir.is_dir() => dir,
            Ok(_) => return Err(gone()),
            Err(error) => {
                tracing::warn!(
                    plugin = id,
                    revision,
                    "revision is not available: {error:#}"
                );
                return Err(gone());
            }
        };
        let manifest = match self.store.resolved(id, revision).await.or_internal()? {
            Some(text) => resolved::decode(&text).map_err(|e| {
                Failure::new(
                    FailureKind::Invalid,
                    ReasonCode::ManifestInvalid,
                    format!("the resolved revision {revision} is unreadable: {e:#}"),
                )
            })?,
            // staged before resolved revisions were kept
            None => {
                let loaded = px_manifest::load_dir(&dir).map_err(|e| {
                    Failure::new(
                        FailureKind::Invalid,
                        ReasonCode::ManifestInvalid,
                        error_chain(&e),
                    )
                })?;
                loaded.manifest
            }
        };
        Ok(Target {
            manifest: Arc::new(manifest),
            revision,
            dir,
            digest: row.digest,
        })
    }
}

/// The plugin's task ended without answering (it panicked).
fn lost_task() -> Failure {
    Failure::internal(&anyhow::anyhow!(
        "the plugin's task ended without answering"
    ))
}

impl PluginTask {
    /// resolve → stage → migrate → go live, then the revision's row is finished.
    pub(crate) async fn install(
        &mut self,
        run: &mut Run,
        job: Box<InstallJob>,
    ) -> (Result<(), Failure>, Next) {
        let job = *job;
        // the same plugin's installs on other Cores of a shared database wait too
        let _cluster = match self.m.store.lock_plugin(&self.plugin.id).await {
            Ok(lock) => lock,
            Err(error) => {
                return (
                    Err(Failure::internal(&error)),
                    self.forget_if_never_staged().await,
                );
            }
        };
        let others = self.m.handles();
        let resolved = run
            .phase(Phase::Resolve, async {
                check::resolve(&job.manifest, &others)
            })
            .await;
        let staged = match resolved {
            Ok(()) => {
                let (install_id, phases) = (run.install_id.clone(), run.phases.clone());
                run.phase(
                    Phase::Stage,
                    self.m.stage(
                        &install_id,
                        phases,
                        &job.manifest,
                        &job.digest,
                        &job.staging,
                    ),
                )
                .await
            }
            Err(failure) => Err(failure),
        };
        let revision = match staged {
            Ok(revision) => revision,
            Err(failure) => return (Err(failure), self.forget_if_never_staged().await),
        };
        run.revision = Some(revision);
        let target = Target {
            manifest: Arc::new(job.manifest),
            revision,
            dir: self.m.paths.revision(&self.plugin.id, revision),
            digest: job.digest,
        };
        let result = match self.m.migrate(run, &self.plugin, &target).await {
            Ok(()) => self.go_live(run, target, Cause::Install).await,
            Err(failure) => Err(failure),
        };
        if result.is_err() {
            self.settle_failed();
        }
        let (status, reason) = match &result {
            Ok(()) => (InstallStatus::Active, None),
            Err(f) => (f.install_status(), Some(f.reason())),
        };
        let finished = self
            .m
            .store
            .finish_revision(
                &self.plugin.id,
                revision,
                status,
                reason.as_ref(),
                &run.phases,
                run.elapsed_ms(),
            )
            .await
            .or_internal();
        (result.and(finished), Next::Continue)
    }

    /// A plugin rejected on its first install leaves nothing behind.
    async fn forget_if_never_staged(&mut self) -> Next {
        if self.current().is_some() {
            return Next::Continue;
        }
        if let Ok(None) = self.m.store.plugin(&self.plugin.id).await {
            let _ = self.m.store.delete_plugin_token(&self.plugin.id).await;
            return Next::End;
        }
        Next::Continue
    }

    /// Brings the stable revision (or `revision`) back live.
    pub(crate) async fn rollback(
        &mut self,
        run: &mut Run,
        revision: Option<u64>,
    ) -> Result<(), Failure> {
        run.plugin_id = self.plugin.id.clone();
        let id = self.plugin.id.clone();
        let _cluster = self.m.store.lock_plugin(&id).await.or_internal()?;
        let stable = self
            .m
            .store
            .plugin(&id)
            .await
            .or_internal()?
            .and_then(|p| p.stable_revision);
        let revision = revision
            .or(stable)
            .ok_or_else(|| Failure::bad_request(format!("{id} has no stable revision")))?;
        let target = self.m.stored_target(&id, revision).await?;
        run.revision = Some(revision);
        run.announce(&id, &target.manifest.version);
        let result = self.go_live(run, target, Cause::Rollback).await;
        if result.is_err() {
            self.settle_failed();
        }
        result
    }
}

impl Manager {
    async fn receive(&self, source: Source, staging: &Path) -> Result<String, Failure> {
        match source {
            Source::Dir(dir) => {
                let allowed = self.config.allowed_dirs();
                let staging = staging.to_owned();
                tokio::task::spawn_blocking(move || receive::copy_dir(&dir, &allowed, &staging))
                    .await
                    .map_err(|e| Failure::internal(&anyhow::anyhow!("copy task failed: {e}")))?
            }
            Source::Bundle(format, body) => {
                let max = self.config.policy.dev.max_bundle_bytes;
                receive::unpack_body(format, body, staging.to_owned(), max).await
            }
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
            RuntimeKind::Process => PluginKind::Process,
            RuntimeKind::Static => PluginKind::Static,
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
                status: RevisionStatus::Installing,
                reason: None,
                phases,
                duration_ms: 0,
                created_at: crate::store::now_ms(),
            })
            .await
            .or_internal()?;

        // what Core runs of this revision, from now on read instead of its files
        self.store
            .set_resolved(id, revision, &resolved::encode(manifest))
            .await
            .or_internal()?;
        if let Err(failure) = self.publish_revision(id, revision, &target).await {
            let _ = self.store.delete_revision(id, revision).await;
            let _ = std::fs::remove_dir_all(&target);
            return Err(failure);
        }
        Ok(revision)
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
