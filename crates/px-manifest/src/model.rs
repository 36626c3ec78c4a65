//! The `manifest.json` v1 model (SPEC §2.1): what plugin authors write.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a plugin id (SPEC §2.1): reverse-DNS, lowercase, at least two parts.
pub const ID_PATTERN: &str = r"^[a-z][a-z0-9]*(\.[a-z0-9][a-z0-9_-]*)+$";
/// Longest allowed plugin id, in characters.
pub const ID_MAX_LEN: usize = 128;
/// Pattern of a permission key: `resource:action`, where the action is what
/// follows the last `:` and the resource may itself hold `:` (PowerX's
/// namespaced resources). Every part starts with a lowercase letter and holds
/// lowercase letters, digits, `_`, `-` and `.` (e.g. `hello:read`,
/// `crm.contact:export.csv`, `base:template:read`).
pub const PERMISSION_PATTERN: &str = r"^[a-z][a-z0-9_.-]*(:[a-z][a-z0-9_.-]*)+$";
/// Pattern of every path that must be absolute (`health.path`, `http_base_path`, menu paths).
pub const ABSOLUTE_PATH_PATTERN: &str = "^/";

/// A plugin manifest, schema version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Schema version of this file; always `1`.
    #[schemars(extend("const" = 1))]
    pub manifest_version: u32,
    /// Reverse-DNS plugin id, e.g. `com.acme.hello`.
    #[schemars(regex(pattern = ID_PATTERN), length(max = ID_MAX_LEN))]
    pub id: String,
    /// Human-readable name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// One-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Plugin version (semver).
    pub version: String,
    /// Requirements on the Core that runs the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<Requires>,
    /// Other plugins that must be installed and active: id → semver range.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// How the plugin runs.
    pub runtime: Runtime,
    /// Admin UI contributed by the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
    /// Permissions the plugin registers on install.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Default configuration handed to the plugin as `PX_PLUGIN_CONFIG`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
    /// A command Core runs before the revision's processes start (the `migrate` phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<Migrations>,
    /// How `px-plugin build` produces `dist/`. Dropped from `dist/manifest.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// The plugin's migration command, run by Core in the `migrate` phase of an
/// install, with the same environment as the plugin's processes (no port).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Migrations {
    /// Program: a path inside `dist/` (relative to it, whatever `workdir`
    /// says) or a command on `PATH`.
    #[schemars(length(min = 1))]
    pub entry: String,
    /// Arguments passed to `entry`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Directory to run in, relative to the revision directory (default: the revision directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Run only for a version not migrated before (default: on every install).
    #[serde(default)]
    pub once: bool,
    /// Longest run before the install fails with `migration_failed`, in milliseconds.
    #[serde(default = "default_migration_timeout_ms")]
    #[schemars(range(min = 1))]
    pub timeout_ms: u64,
}

fn default_migration_timeout_ms() -> u64 {
    60_000
}

/// Requirements on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// Semver range of the Core version the plugin needs, e.g. `>=0.1, <1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub powerx: Option<String>,
    /// Semver range of the PowerX (CoreX) version the plugin was written for
    /// (`plugin.yaml`'s `corex_version`), checked against the PowerX version
    /// Core declares it is compatible with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corex: Option<String>,
}

/// Whether the plugin runs a process or only ships static admin files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// A long-running HTTP process started by Core.
    Process,
    /// Admin UI only, no process.
    Static,
}

/// How Core runs the plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// `process` or `static`.
    pub kind: RuntimeKind,
    /// Program to start: a path inside `dist/` or a command on `PATH`. Required for
    /// `process`; ignored, with a warning, for `static`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub entry: Option<String>,
    /// Arguments passed to `entry`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment, added after Core's injected variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Health check.
    #[serde(default)]
    pub health: Health,
    /// Base path of the plugin's HTTP API; `/_p/<id>/api/*` is proxied below it.
    #[serde(default = "default_base_path")]
    #[schemars(regex(pattern = ABSOLUTE_PATH_PATTERN))]
    pub http_base_path: String,
}

/// Health check of a process plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Absolute path answered with 2xx when healthy.
    #[serde(default = "default_health_path")]
    #[schemars(regex(pattern = ABSOLUTE_PATH_PATTERN))]
    pub path: String,
    /// How long the plugin may take to become healthy, in milliseconds
    /// (never more than the policy's `dev.health_timeout_ms`).
    #[serde(default = "default_health_timeout_ms")]
    #[schemars(range(min = 1))]
    pub timeout_ms: u64,
    /// How long one probe may take, in milliseconds (default: 2000 while
    /// starting, each probe retried until the startup deadline; for
    /// liveness, the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub probe_timeout_ms: Option<u64>,
    /// How often a stable revision is probed (liveness), in milliseconds.
    #[serde(default = "default_health_interval_ms")]
    #[schemars(range(min = 1))]
    pub interval_ms: u64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            path: default_health_path(),
            timeout_ms: default_health_timeout_ms(),
            probe_timeout_ms: None,
            interval_ms: default_health_interval_ms(),
        }
    }
}

fn default_health_interval_ms() -> u64 {
    10_000
}

fn default_health_path() -> String {
    "/healthz".to_owned()
}

fn default_health_timeout_ms() -> u64 {
    15_000
}

fn default_base_path() -> String {
    "/".to_owned()
}

/// Admin UI of the plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Directory inside `dist/` served at `/_p/<id>/admin/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_dir: Option<String>,
    /// Entries added to Admin's sidebar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub menus: Vec<Menu>,
    /// An admin server (e.g. a Nuxt server) run beside the backend in the
    /// same revision and proxied at `/_p/<id>/admin/*`; `static_dir` is then
    /// the fallback while it is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<AdminProcess>,
}

/// The admin server of a revision: started, probed, swapped and stopped
/// together with its backend, on a port of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminProcess {
    /// Program to start: a path inside `dist/` or a command on `PATH`.
    #[schemars(length(min = 1))]
    pub entry: String,
    /// Arguments passed to `entry`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment, added after Core's injected variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Health check; without one, `GET /` must answer 2xx.
    #[serde(default = "admin_health")]
    pub health: Health,
}

fn admin_health() -> Health {
    Health {
        path: "/".to_owned(),
        ..Health::default()
    }
}

/// One sidebar entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// Unique within the plugin.
    #[schemars(length(min = 1))]
    pub id: String,
    /// Label shown in the sidebar.
    #[schemars(length(min = 1))]
    pub title: String,
    /// The label in other languages: locale (e.g. `zh-CN`, `en`) → title.
    /// Admin picks the best match for the user's `Accept-Language`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub title_i18n: BTreeMap<String, String>,
    /// Path inside the plugin's admin pages, e.g. `/` or `/settings`.
    #[schemars(regex(pattern = ABSOLUTE_PATH_PATTERN))]
    pub path: String,
    /// Icon name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Sort order; lower first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// Permission keys (declared in `permissions`) needed to see the entry,
    /// all of them: one key as a string, or several as a list.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    #[schemars(with = "OneOrMany")]
    pub permission: Vec<String>,
    /// Entries nested below this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Menu>,
}

/// The schema of [`Menu::permission`]: a key, or a list of keys.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "only its schema is used")]
enum OneOrMany {
    One(#[schemars(regex(pattern = PERMISSION_PATTERN))] String),
    All(Vec<PermissionKey>),
}

/// A permission key, for the schema of [`OneOrMany`].
#[derive(JsonSchema)]
#[serde(transparent)]
#[allow(dead_code, reason = "only its schema is used")]
struct PermissionKey(#[schemars(regex(pattern = PERMISSION_PATTERN))] String);

/// A string, or a list of strings, read into a list; written back as a
/// string when it holds one.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }

    pub(super) fn serialize<S: Serializer>(keys: &[String], to: S) -> Result<S::Ok, S::Error> {
        match keys {
            [one] => one.serialize(to),
            many => many.serialize(to),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Vec<String>, D::Error> {
        Ok(match Either::deserialize(from)? {
            Either::One(one) => vec![one],
            Either::Many(many) => many,
        })
    }
}

impl Menu {
    /// This entry and every entry below it, depth first.
    pub fn walk(&self) -> Vec<&Menu> {
        let mut all = vec![self];
        for child in &self.children {
            all.extend(child.walk());
        }
        all
    }
}

/// A permission the plugin registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// `resource:action`, e.g. `hello:read`.
    #[schemars(regex(pattern = PERMISSION_PATTERN))]
    pub key: String,
    /// What the permission allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How `px-plugin build` produces `dist/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Shell command run first, in the project directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Files to copy: path in `dist/` → source path or glob in the project.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}
