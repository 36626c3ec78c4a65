//! Starting one revision: the environment of SPEC §2.3, the spawn through
//! `px-runtime`, the pid file for crash recovery, and the health wait.
//!
//! The environment is Core's `PX_*` names, the names PowerX's own Core sets
//! (`POWERX_*`, so a real PowerX plugin runs unchanged), then the plugin's
//! own `env`, expanded ([`super::env`]). Nothing else of Core's environment.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use px_api::{MessageStream, ProcessRole, ReasonCode};
use px_manifest::{Health, Manifest};
use px_runtime::{HealthOutcome, LogSink, Process, SpawnSpec, Spawner, Stream};

use super::env;
use super::paths::Paths;
use super::receive::error_chain;
use super::run::Failure;
use crate::events::EventBus;
use crate::gateway::{self, GatewayKey};

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
    /// The plugin's gateway secret (`POWERX_SECURITY_JWT_SECRET`).
    pub gateway: &'a GatewayKey,
}

impl LaunchSpec<'_> {
    /// The processes this revision runs: the backend (unless static), then
    /// the admin process if it has one.
    pub(crate) fn roles(&self) -> Vec<ProcessRole> {
        roles(self.manifest)
    }

    fn admin_process(&self) -> Option<&px_manifest::AdminProcess> {
        self.manifest.admin.as_ref()?.process.as_ref()
    }

    /// Program, arguments and the plugin's own environment of one process.
    fn command(&self, role: ProcessRole) -> (String, &[String], &BTreeMap<String, String>) {
        match (role, self.admin_process()) {
            (ProcessRole::Admin, Some(admin)) => (admin.entry.clone(), &admin.args, &admin.env),
            _ => {
                let runtime = &self.manifest.runtime;
                let entry = runtime.entry.clone().unwrap_or_default();
                (entry, &runtime.args, &runtime.env)
            }
        }
    }

    /// The health check of one process.
    pub(crate) fn health(&self, role: ProcessRole) -> &Health {
        health(self.manifest, role)
    }

    pub(crate) fn named(&self, role: ProcessRole, message: String) -> String {
        named(self.manifest, role, message)
    }
}

/// The processes a revision runs: the backend (unless static), then the
/// admin process if it has one.
pub(crate) fn roles(manifest: &Manifest) -> Vec<ProcessRole> {
    let backend = manifest.runtime.kind == px_manifest::RuntimeKind::Process;
    let admin = manifest.admin.as_ref().is_some_and(|a| a.process.is_some());
    let mut roles = Vec::new();
    if backend {
        roles.push(ProcessRole::Backend);
    }
    if admin {
        roles.push(ProcessRole::Admin);
    }
    roles
}

/// The health check of one process of a revision.
pub(crate) fn health(manifest: &Manifest, role: ProcessRole) -> &Health {
    let admin = manifest.admin.as_ref().and_then(|a| a.process.as_ref());
    match (role, admin) {
        (ProcessRole::Admin, Some(admin)) => &admin.health,
        _ => &manifest.runtime.health,
    }
}

/// What a reason calls a process: nothing when the revision has just one.
pub(crate) fn named(manifest: &Manifest, role: ProcessRole, message: String) -> String {
    if roles(manifest).len() > 1 {
        format!("{role} process: {message}")
    } else {
        message
    }
}

/// The environment of a plugin process, and the references in its own `env`
/// that resolved to nothing.
#[derive(Debug)]
pub(crate) struct Environment {
    pub vars: BTreeMap<String, String>,
    /// `(env key, variable)` of each reference that became empty.
    pub unresolved: Vec<(String, String)>,
}

/// The environment of a plugin process, exactly (SPEC §2.3); `role` picks
/// whose own `env` comes last; `port` is `None` for the migration.
///
/// The plugin's entries are expanded in key order from what is set before
/// them (Core's names, then its earlier entries) and from the top-level
/// strings and numbers of its `config`; a reference to a later entry sees
/// nothing, so it takes its default.
pub(crate) fn environment(
    spec: &LaunchSpec<'_>,
    role: ProcessRole,
    paths: &Paths,
    port: Option<u16>,
) -> Environment {
    let mut vars = injected(spec, role, paths, port);
    let config = config_values(spec.manifest);
    let mut unresolved = Vec::new();
    for (key, raw) in spec.command(role).2 {
        let mut missing = Vec::new();
        let lookup = |name: &str| {
            vars.get(name)
                .filter(|v| !v.is_empty())
                .or_else(|| config.get(name))
                .cloned()
        };
        let value = env::expand(raw, &lookup, &mut missing);
        unresolved.extend(missing.into_iter().map(|name| (key.clone(), name)));
        // as PowerX: a blank or placeholder address means Core's own
        let placeholder = env::PORT_PLACEHOLDERS.contains(&value.trim());
        if key == "POWERX_HTTP_ADDR" && (value.trim().is_empty() || placeholder) {
            continue;
        }
        vars.insert(key.clone(), env::with_port(value, port));
    }
    Environment { vars, unresolved }
}

/// What Core sets before the plugin's own `env`.
fn injected(
    spec: &LaunchSpec<'_>,
    role: ProcessRole,
    paths: &Paths,
    port: Option<u16>,
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
    if let Some(port) = port {
        set("PORT", port.to_string());
        set("PX_PLUGIN_PORT", port.to_string());
        set("POWERX_HTTP_ADDR", format!("127.0.0.1:{port}"));
    }
    let data = paths.data(id).display().to_string();
    set("PX_PLUGIN_ID", id.clone());
    set("PX_PLUGIN_VERSION", manifest.version.clone());
    set("PX_PLUGIN_REVISION", spec.revision.to_string());
    set("PX_PLUGIN_BASE_PATH", format!("/_p/{id}"));
    set("PX_CORE_URL", spec.core_url.to_owned());
    set("PX_PLUGIN_TOKEN", spec.token.to_owned());
    set("PX_PLUGIN_DATA_DIR", data.clone());
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
    // the names PowerX's Core sets (research notes: its plugin manager)
    let root = std::path::absolute(spec.dir).unwrap_or_else(|_| spec.dir.to_owned());
    set("POWERX_PLUGIN_ID", id.clone());
    set("POWERX_PLUGIN_VERSION", manifest.version.clone());
    set("POWERX_PLUGIN_ROOT", root.display().to_string());
    set(
        "POWERX_PLUGIN_CONFIG_DIR",
        root.join("config").display().to_string(),
    );
    set("POWERX_PLUGIN_DATA_DIR", data);
    set("POWERX_PROXY", "1".to_owned());
    let secret = spec.gateway.secret().to_owned();
    set("POWERX_SECURITY_MODE", "jwt".to_owned());
    set("POWERX_SECURITY_JWT_SECRET", secret.clone());
    set("POWERX_SECURITY_JWT_ISSUER", gateway::ISSUER.to_owned());
    set(
        "POWERX_SECURITY_JWT_AUDIENCE",
        spec.gateway.audience().to_owned(),
    );
    set("POWERX_SECURITY_JWT_SCOPE", gateway::SCOPE.to_owned());
    set("POWERX_SECURITY_CTX_HMAC_SECRET", secret);
    set(
        "PX_GATEWAY_BASE_URL",
        spec.core_url.trim_end_matches('/').to_owned(),
    );
    if role == ProcessRole::Admin && spec.admin_process().is_some() {
        set("POWERX_ADMIN_BASE", format!("/_p/{id}/admin/"));
        set("NITRO_HOST", "127.0.0.1".to_owned());
        set("NODE_ENV", "production".to_owned());
    }
    env
}

/// The top-level strings and numbers of the plugin's `config`, by key.
fn config_values(manifest: &Manifest) -> BTreeMap<String, String> {
    let Some(config) = &manifest.config else {
        return BTreeMap::new();
    };
    config
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k.clone(), s.clone())),
            serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect()
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

/// One started process of a revision.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub role: ProcessRole,
    pub process: Process,
    pub port: u16,
}

/// Spawns one process of the revision on a fresh port; its output goes to the bus.
pub(crate) async fn spawn(
    spawner: &Spawner,
    events: &Arc<EventBus>,
    paths: &Paths,
    spec: &LaunchSpec<'_>,
    role: ProcessRole,
) -> Result<Started, Failure> {
    let manifest = spec.manifest;
    let port = px_runtime::pick_port().map_err(|e| {
        Failure::runtime(
            ReasonCode::StartFailed,
            spec.named(role, format!("no free port: {e}")),
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
            events.log(&id, revision, role, stream, line);
        })
    };
    let (program, args, _) = spec.command(role);
    let env = environment(spec, role, paths, Some(port));
    warn_unresolved(events, spec, role, &env.unresolved);
    let process = spawner
        .spawn(SpawnSpec {
            program,
            args: args.to_vec(),
            cwd: spec.dir.to_owned(),
            env: env.vars,
            log_sink: sink,
        })
        .await
        .map_err(|e| {
            Failure::runtime(
                ReasonCode::StartFailed,
                spec.named(role, error_chain(&e)),
                Vec::new(),
            )
        })?;
    record_pid(paths, &manifest.id, &process);
    Ok(Started {
        role,
        process,
        port,
    })
}

/// One warning line in the plugin's log (and Core's) per reference in its
/// `env` that resolved to nothing.
fn warn_unresolved(
    events: &EventBus,
    spec: &LaunchSpec<'_>,
    role: ProcessRole,
    unresolved: &[(String, String)],
) {
    let id = &spec.manifest.id;
    for (key, name) in unresolved {
        let message = spec.named(
            role,
            format!("env {key}: ${{{name}}} has no value and no default; it is empty"),
        );
        tracing::warn!(plugin = %id, revision = spec.revision, "{message}");
        events.warn(id, spec.revision, role, message);
    }
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

/// Waits for one process's health; on failure the reason says why (the
/// caller stops the revision's processes). The startup budget is the
/// process's `health.timeout_ms`, never more than the policy's
/// `dev.health_timeout_ms`; each probe within it may take
/// `health.probe_timeout_ms` (default [`px_runtime::DEFAULT_PROBE_TIMEOUT`]).
pub(crate) async fn await_health(
    spec: &LaunchSpec<'_>,
    started: &Started,
    policy_timeout_ms: u64,
) -> Result<(), Failure> {
    let (role, process) = (started.role, &started.process);
    let health = spec.health(role);
    let limit = Duration::from_millis(health.timeout_ms.min(policy_timeout_ms));
    let probe = health
        .probe_timeout_ms
        .map_or(px_runtime::DEFAULT_PROBE_TIMEOUT, Duration::from_millis);
    let outcome = px_runtime::wait_healthy(started.port, &health.path, limit, probe, process).await;
    let (code, message) = match outcome {
        HealthOutcome::Healthy(_) => return Ok(()),
        HealthOutcome::Exited(status) => (
            ReasonCode::StartFailed,
            format!("the process exited before it was healthy ({status})"),
        ),
        HealthOutcome::TimedOut { last_status: None } => (
            ReasonCode::HealthTimeout,
            format!(
                "GET {} never answered within {} ms",
                health.path,
                limit.as_millis()
            ),
        ),
        HealthOutcome::TimedOut {
            last_status: Some(code),
        } => (
            ReasonCode::HealthFailed,
            format!(
                "GET {} answered {code}, not 2xx, until the {} ms timeout",
                health.path,
                limit.as_millis()
            ),
        ),
    };
    // the output may still be arriving: stop first, then read the tail
    process.stop(super::FAILED_START_GRACE).await;
    Err(Failure::runtime(
        code,
        spec.named(role, message),
        process.last_stderr(LOG_TAIL),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert_eq!(env_name("com.acme-x.hello_1"), "COM_ACME_X_HELLO_1");
    }
}
