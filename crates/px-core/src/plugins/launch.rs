//! Starting one revision: the environment of SPEC §2.3, the spawn through
//! `px-runtime`, the pid file for crash recovery, and the health wait.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use px_api::{MessageStream, ReasonCode};
use px_manifest::Manifest;
use px_runtime::{HealthOutcome, LogSink, Process, SpawnSpec, Spawner, Stream};

use super::paths::Paths;
use super::receive::error_chain;
use super::run::Failure;
use crate::events::EventBus;

/// Variables passed through from Core's environment; nothing else is.
const PASS_THROUGH: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];
/// Stderr lines kept in a failure reason.
const LOG_TAIL: usize = 20;

/// What a start needs to know about the plugin.
#[derive(Debug)]
pub(crate) struct LaunchSpec<'a> {
    pub manifest: &'a Manifest,
    pub revision: u64,
    pub dir: &'a Path,
    pub token: &'a str,
    pub core_url: &'a str,
}

/// The environment of a plugin process, exactly (SPEC §2.3).
pub(crate) fn environment(
    spec: &LaunchSpec<'_>,
    paths: &Paths,
    port: u16,
) -> BTreeMap<String, String> {
    let manifest = spec.manifest;
    let id = &manifest.id;
    let mut env = BTreeMap::new();
    for name in PASS_THROUGH {
        if let Ok(value) = std::env::var(name) {
            env.insert(name.to_owned(), value);
        }
    }
    let mut set = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    set("PORT", port.to_string());
    set("PX_PLUGIN_PORT", port.to_string());
    set("PX_PLUGIN_ID", id.clone());
    set("PX_PLUGIN_VERSION", manifest.version.clone());
    set("PX_PLUGIN_REVISION", spec.revision.to_string());
    set("PX_PLUGIN_BASE_PATH", format!("/_p/{id}"));
    set("PX_CORE_URL", spec.core_url.to_owned());
    set("PX_PLUGIN_TOKEN", spec.token.to_owned());
    set("PX_PLUGIN_DATA_DIR", paths.data(id).display().to_string());
    let config = manifest.config.clone().unwrap_or_default();
    set(
        "PX_PLUGIN_CONFIG",
        serde_json::Value::Object(config).to_string(),
    );
    for dep in manifest.dependencies.keys() {
        set(
            &format!("PX_DEP_{}_URL", env_name(dep)),
            format!("{}/_p/{dep}/api", spec.core_url),
        );
    }
    for (k, v) in &manifest.runtime.env {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// `com.acme-x.hello` → `COM_ACME_X_HELLO`.
pub(crate) fn env_name(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Spawns the revision's entry on a fresh port; its output goes to the bus.
pub(crate) async fn spawn(
    spawner: &Spawner,
    events: &Arc<EventBus>,
    paths: &Paths,
    spec: &LaunchSpec<'_>,
) -> Result<(Process, u16), Failure> {
    let manifest = spec.manifest;
    let port = px_runtime::pick_port().map_err(|e| {
        Failure::runtime(
            ReasonCode::StartFailed,
            format!("no free port: {e}"),
            Vec::new(),
        )
    })?;
    std::fs::create_dir_all(paths.data(&manifest.id)).map_err(|e| {
        Failure::internal(&anyhow::anyhow!("creating the plugin data directory: {e}"))
    })?;
    let sink: LogSink = {
        let events = events.clone();
        let id = manifest.id.clone();
        let revision = spec.revision;
        Arc::new(move |stream, line| {
            let stream = match stream {
                Stream::Stdout => MessageStream::Stdout,
                Stream::Stderr => MessageStream::Stderr,
            };
            events.log(&id, revision, stream, line);
        })
    };
    let process = spawner
        .spawn(SpawnSpec {
            program: manifest.runtime.entry.clone().unwrap_or_default(),
            args: manifest.runtime.args.clone(),
            cwd: spec.dir.to_owned(),
            env: environment(spec, paths, port),
            log_sink: sink,
        })
        .await
        .map_err(|e| Failure::runtime(ReasonCode::StartFailed, error_chain(&e), Vec::new()))?;
    record_pid(paths, &manifest.id, &process);
    Ok((process, port))
}

/// Writes `<run>/<id>.<pid>.pid` = the process's `px_runtime::Leftover` (pid,
/// start time, cgroup or marker), removed once it and its descendants are gone.
fn record_pid(paths: &Paths, id: &str, process: &Process) {
    let Some(leftover) = process.leftover() else {
        return;
    };
    let file = paths.pid_file(id, process.pid());
    if let Err(error) = std::fs::create_dir_all(paths.run_dir())
        .and_then(|()| std::fs::write(&file, leftover.to_string()))
    {
        tracing::warn!(%error, "cannot record plugin pid");
        return;
    }
    let process = process.clone();
    tokio::spawn(async move {
        process.exited().await;
        let _ = std::fs::remove_file(file);
    });
}

/// Waits for health; on failure the process is stopped and the reason says why.
pub(crate) async fn await_health(
    process: &Process,
    port: u16,
    manifest: &Manifest,
    policy_timeout_ms: u64,
) -> Result<(), Failure> {
    let health = &manifest.runtime.health;
    let limit = Duration::from_millis(health.timeout_ms.min(policy_timeout_ms));
    let outcome = px_runtime::wait_healthy(port, &health.path, limit, process).await;
    let failure = match outcome {
        HealthOutcome::Healthy(_) => return Ok(()),
        HealthOutcome::Exited(status) => Failure::runtime(
            ReasonCode::StartFailed,
            format!("the process exited before it was healthy ({status})"),
            process.last_stderr(LOG_TAIL),
        ),
        HealthOutcome::TimedOut { last_status: None } => Failure::runtime(
            ReasonCode::HealthTimeout,
            format!(
                "GET {} never answered within {} ms",
                health.path,
                limit.as_millis()
            ),
            Vec::new(),
        ),
        HealthOutcome::TimedOut {
            last_status: Some(code),
        } => Failure::runtime(
            ReasonCode::HealthFailed,
            format!(
                "GET {} answered {code}, not 2xx, until the {} ms timeout",
                health.path,
                limit.as_millis()
            ),
            Vec::new(),
        ),
    };
    process.stop(super::FAILED_START_GRACE).await;
    let mut failure = failure;
    if failure.log_tail.is_empty() {
        failure.log_tail = process.last_stderr(LOG_TAIL);
    }
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert_eq!(env_name("com.acme-x.hello_1"), "COM_ACME_X_HELLO_1");
    }
}
