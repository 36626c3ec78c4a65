//! The `migrate` phase (SPEC §3.3): the plugin's `migrations` command runs in
//! the staged revision, before any of its processes start, with the same
//! environment as they get (without a port), within its timeout. Its output
//! is the plugin's log; a failure is `migration_failed` with the last lines.
//! With `once: true` a version that migrated before is not migrated again: a
//! marker per version in the plugin's directory (`migrated/<version>`) says so.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use px_api::{MessageStream, Phase, ProcessRole, ReasonCode};
use px_manifest::Migrations;
use px_runtime::{LogSink, SpawnSpec, Stream};

use super::launch;
use super::receive::error_chain;
use super::run::{Failure, Run};
use super::running::{Plugin, Target};
use super::{FAILED_START_GRACE, Manager};

/// Output lines kept for a failure reason.
const LOG_TAIL: usize = 20;

impl Manager {
    /// Runs the revision's migrations, if it declares any and they are due.
    pub(crate) async fn migrate(
        &self,
        run: &mut Run,
        plugin: &Plugin,
        target: &Target,
    ) -> Result<(), Failure> {
        let Some(migrations) = &target.manifest.migrations else {
            return Ok(());
        };
        let marker = self
            .paths
            .plugin(&plugin.id)
            .join("migrated")
            .join(&target.manifest.version);
        if migrations.once && marker.exists() {
            return Ok(());
        }
        run.phase(
            Phase::Migrate,
            self.run_migrations(plugin, target, migrations),
        )
        .await?;
        let recorded = std::fs::create_dir_all(marker.parent().expect("the marker has a parent"))
            .and_then(|()| std::fs::write(&marker, b""));
        if let Err(error) = recorded {
            tracing::warn!(plugin = %plugin.id, %error, "cannot record that the migrations ran");
        }
        Ok(())
    }

    async fn run_migrations(
        &self,
        plugin: &Plugin,
        target: &Target,
        migrations: &Migrations,
    ) -> Result<(), Failure> {
        let failed = |message: String, tail: Vec<String>| {
            Failure::runtime(ReasonCode::MigrationFailed, message, tail)
        };
        let cwd = workdir(&target.dir, migrations.workdir.as_deref()).ok_or_else(|| {
            failed(
                format!(
                    "migrations.workdir {:?} is not a directory inside the revision",
                    migrations.workdir.as_deref().unwrap_or_default()
                ),
                Vec::new(),
            )
        })?;
        let program = program(&target.dir, &migrations.entry).ok_or_else(|| {
            failed(
                format!(
                    "migrations.entry {:?} climbs out of the plugin directory: name a path inside it",
                    migrations.entry
                ),
                Vec::new(),
            )
        })?;
        let spec = self.launch_spec(plugin, target);
        // the backend's unresolved references are reported when it starts
        let env = launch::environment(&spec, ProcessRole::Backend, &self.paths, None).vars;
        std::fs::create_dir_all(self.paths.data(&plugin.id)).map_err(|e| {
            Failure::internal(&anyhow::anyhow!("creating the plugin data directory: {e}"))
        })?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let process = self
            .spawner
            .spawn(SpawnSpec {
                program,
                args: migrations.args.clone(),
                cwd,
                env,
                log_sink: self.migration_sink(plugin, target.revision, tail.clone()),
            })
            .await
            .map_err(|e| failed(error_chain(&e), Vec::new()))?;
        let limit = Duration::from_millis(migrations.timeout_ms);
        let outcome = tokio::time::timeout(limit, process.exited()).await;
        let last = || {
            tail.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        match outcome {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(failed(
                format!(
                    "the migration command {} exited ({status})",
                    migrations.entry
                ),
                last(),
            )),
            Err(_) => {
                process.stop(FAILED_START_GRACE).await;
                Err(failed(
                    format!(
                        "the migration command {} did not finish within {} ms (migrations.timeout_ms)",
                        migrations.entry, migrations.timeout_ms
                    ),
                    last(),
                ))
            }
        }
    }

    /// The migration's output goes to the plugin's log, and its last lines
    /// (stdout and stderr alike) to `tail`.
    fn migration_sink(
        &self,
        plugin: &Plugin,
        revision: u64,
        tail: Arc<Mutex<VecDeque<String>>>,
    ) -> LogSink {
        let events = self.events.clone();
        let id = plugin.id.clone();
        Arc::new(move |stream, line| {
            {
                let mut tail = tail
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
            }
            let stream = match stream {
                Stream::Stdout => MessageStream::Stdout,
                Stream::Stderr => MessageStream::Stderr,
            };
            events.log(&id, revision, ProcessRole::Backend, stream, line);
        })
    }
}

/// The program to run for `entry`: a path (it has a `/`) is relative to the
/// revision directory whatever the `workdir`, as PowerX resolves it against
/// the plugin root; an absolute path stays, and a bare name is looked up on
/// the plugin's `PATH`. `None` when a relative path climbs out with `..`.
fn program(revision: &Path, entry: &str) -> Option<String> {
    let relative = Path::new(entry);
    if !entry.contains('/') || relative.is_absolute() {
        return Some(entry.to_owned());
    }
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    inside.then(|| revision.join(relative).display().to_string())
}

/// `workdir` inside `revision`, when it names a directory there.
fn workdir(revision: &Path, workdir: Option<&str>) -> Option<PathBuf> {
    let Some(workdir) = workdir else {
        return Some(revision.to_owned());
    };
    let relative = Path::new(workdir);
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let dir = revision.join(relative);
    (inside && dir.is_dir()).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_stays_inside_the_revision() {
        let revision = tempfile::tempdir().unwrap();
        std::fs::create_dir(revision.path().join("db")).unwrap();
        let root = revision.path();
        assert_eq!(workdir(root, None).unwrap(), root);
        assert_eq!(workdir(root, Some("db")).unwrap(), root.join("db"));
        assert_eq!(workdir(root, Some("./db")).unwrap(), root.join("./db"));
        assert!(workdir(root, Some("../db")).is_none());
        assert!(workdir(root, Some("/tmp")).is_none());
        assert!(workdir(root, Some("missing")).is_none());
    }

    #[test]
    fn a_path_entry_is_below_the_revision_and_a_name_is_on_path() {
        let root = Path::new("/rev");
        assert_eq!(
            program(root, "backend/bin/migrate").unwrap(),
            "/rev/backend/bin/migrate"
        );
        assert_eq!(program(root, "./migrate.py").unwrap(), "/rev/./migrate.py");
        assert_eq!(program(root, "python3").unwrap(), "python3");
        assert!(program(root, "../migrate").is_none());
        assert!(program(root, "backend/../../migrate").is_none());
        assert_eq!(program(root, "/usr/bin/env").unwrap(), "/usr/bin/env");
    }
}
