//! The policy file (SPEC §3.5): roles → permissions, dev-mode settings, audit
//! retention. Every key is optional; a fault stops Core with its line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Role name → permission keys (`"*"` = every permission).
    pub roles: BTreeMap<String, Vec<String>>,
    /// Dev hot reload settings.
    pub dev: DevPolicy,
    /// Audit settings.
    pub audit: AuditPolicy,
}

/// The `dev:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevPolicy {
    /// Dev API on (also `--dev` or `PX_PLUGIN_DEV_MODE=1`).
    pub enabled: bool,
    /// Roots a directory install may read from; `~` is the home directory.
    pub allowed_dirs: Vec<PathBuf>,
    /// Glob patterns of plugin ids a developer may install.
    pub plugin_ids: Vec<String>,
    /// Largest accepted bundle, in bytes.
    pub max_bundle_bytes: u64,
    /// Longest wait for a new revision's process to become healthy (its
    /// startup budget: `health.timeout_ms` never goes past it), in
    /// milliseconds; 30 s by default, as PowerX's own Core allows.
    pub health_timeout_ms: u64,
    /// How long a new revision is watched for crashes after the swap, in milliseconds.
    pub probation_ms: u64,
    /// Keeping stable revisions running.
    pub liveness: LivenessPolicy,
}

/// The `dev.liveness:` section: when a stable revision is restarted, and when
/// Core gives up on it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessPolicy {
    /// Failed probes in a row (at the revision's `health.interval_ms`) that count as a crash.
    pub failures: u32,
    /// Restarts allowed within `window_ms`; one more puts the plugin in `crash_loop`.
    pub max_restarts: u32,
    /// The window restarts are counted in, in milliseconds; it also sets how
    /// long a revision must run before its restart backoff starts over.
    pub window_ms: u64,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        LivenessPolicy {
            failures: 3,
            max_restarts: 5,
            window_ms: 60_000,
        }
    }
}

/// The `audit:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditPolicy {
    /// Audit rows and persisted events older than this are deleted.
    pub retention_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        let role = |perms: &[&str]| perms.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        Policy {
            roles: BTreeMap::from([
                ("admin".to_owned(), role(&["*"])),
                (
                    "plugin-developer".to_owned(),
                    role(&["plugin:dev", "plugin:read", "audit:read"]),
                ),
                ("viewer".to_owned(), role(&["plugin:read"])),
            ]),
            dev: DevPolicy::default(),
            audit: AuditPolicy::default(),
        }
    }
}

impl Default for DevPolicy {
    fn default() -> Self {
        DevPolicy {
            enabled: false,
            allowed_dirs: vec![PathBuf::from("~")],
            plugin_ids: vec!["*".to_owned()],
            max_bundle_bytes: 268_435_456,
            health_timeout_ms: 30_000,
            probation_ms: 3_000,
            liveness: LivenessPolicy::default(),
        }
    }
}

impl Default for AuditPolicy {
    fn default() -> Self {
        AuditPolicy { retention_days: 7 }
    }
}

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {}", path.display())]
    Io {
        /// Policy file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file has a fault at a known place.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// Policy file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// Parses and checks policy YAML; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let invalid = |line, column, message: String| PolicyError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        };
        let policy: Policy = if text.trim().is_empty() {
            Policy::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                invalid(line, column, describe(text, line, &e.to_string()))
            })?
        };
        if let Some((key, message)) = policy.check() {
            let (line, column) = locate_key(text, key);
            return Err(invalid(line, column, message));
        }
        Ok(policy)
    }

    /// Value checks serde cannot express: the key at fault and what was expected.
    fn check(&self) -> Option<(&'static str, String)> {
        let dev = &self.dev;
        if dev.max_bundle_bytes == 0 {
            return Some((
                "max_bundle_bytes",
                "max_bundle_bytes must be greater than 0".into(),
            ));
        }
        if dev.health_timeout_ms == 0 {
            return Some((
                "health_timeout_ms",
                "health_timeout_ms must be greater than 0".into(),
            ));
        }
        if self.audit.retention_days == 0 {
            return Some(("retention_days", "retention_days must be at least 1".into()));
        }
        for pattern in &dev.plugin_ids {
            if let Err(e) = globset::Glob::new(pattern) {
                return Some((
                    "plugin_ids",
                    format!("invalid glob {pattern:?} in plugin_ids: {e}"),
                ));
            }
        }
        for dir in &dev.allowed_dirs {
            let text = dir.to_string_lossy();
            if !(dir.is_absolute() || text == "~" || text.starts_with("~/")) {
                return Some((
                    "allowed_dirs",
                    format!(
                        "allowed_dirs entries must be absolute or start with ~, found {text:?}"
                    ),
                ));
            }
        }
        None
    }

    /// The permissions of a role (empty for an unknown role).
    pub fn permissions(&self, role: &str) -> &[String] {
        self.roles.get(role).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `allowed_dirs` with `~` expanded against `home`.
    pub fn allowed_dirs(&self, home: Option<&Path>) -> Vec<PathBuf> {
        self.dev
            .allowed_dirs
            .iter()
            .filter_map(|dir| match dir.strip_prefix("~") {
                Ok(rest) => home.map(|h| h.join(rest)),
                Err(_) => Some(dir.clone()),
            })
            .collect()
    }
}

/// serde-saphyr's message without its own position prefix, led by the key on
/// the faulty line so the reader sees which setting is wrong.
fn describe(text: &str, line: u64, message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let bare = first.trim_start_matches("error: ");
    let bare = match bare.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(bare, |(_, m)| m),
        None => bare,
    };
    let key = text
        .lines()
        .nth((line as usize).saturating_sub(1))
        .and_then(|l| l.split_once(':'))
        .map(|(k, _)| k.trim().trim_start_matches("- "))
        .filter(|k| !k.is_empty() && !bare.contains(*k));
    match key {
        Some(key) => format!("{key}: {bare}"),
        None => bare.to_owned(),
    }
}

/// Line and column of the first `key:` in the text (0, 0 when absent).
fn locate_key(text: &str, key: &str) -> (u64, u64) {
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(&format!("{key}:")) {
            return ((n + 1) as u64, (line.len() - trimmed.len() + 1) as u64);
        }
    }
    (0, 0)
}
