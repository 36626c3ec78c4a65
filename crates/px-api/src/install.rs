//! The dev install API: request bodies and the install report (SPEC §3.2, §3.3).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// JSON body of `POST /api/plugins/dev/install` (the other form is a raw `.pxp` upload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstallRequest {
    /// Where Core reads the plugin from.
    pub source: InstallSource,
}

/// Where an install comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstallSource {
    /// A `dist/` directory on Core's filesystem, under the policy's `dev.allowed_dirs`.
    Dir {
        /// Absolute path of the directory.
        path: String,
    },
}

/// JSON body of `DELETE /api/plugins/dev/install`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UninstallRequest {
    /// Plugin to remove.
    pub plugin_id: String,
}

/// Answer of `DELETE /api/plugins/dev/install`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Uninstalled {
    /// The plugin that was removed.
    pub plugin_id: String,
    /// Always `true`.
    pub uninstalled: bool,
}

/// Optional JSON body of `POST /api/plugins/{id}/rollback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RollbackRequest {
    /// Revision to go back to; the stable revision when absent.
    #[serde(default)]
    pub revision: Option<u64>,
}

/// Outcome of an install, reload or rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstallStatus {
    /// The new revision is live.
    Active,
    /// It failed at or after start; the stable revision serves again.
    RolledBack,
    /// Refused before anything ran; the running revision is untouched.
    Rejected,
}

/// Why an install failed (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The manifest has schema or SDK faults.
    ManifestInvalid,
    /// The bundle is malformed or hostile.
    BundleInvalid,
    /// `requires.powerx`, a dependency or a menu/permission/route collision failed.
    DependencyConflict,
    /// `runtime.entry` is missing or not executable.
    EntryMissing,
    /// The migration command failed or did not finish within its timeout.
    MigrationFailed,
    /// The process could not start or exited before it was healthy.
    StartFailed,
    /// The health check never answered within the timeout.
    HealthTimeout,
    /// The health check answered, but never with 2xx.
    HealthFailed,
    /// The process crashed during probation.
    CrashedInProbation,
    /// The request itself was wrong (bad path, not allowed, …).
    BadRequest,
    /// The caller may not install this plugin id (the policy's `dev.plugin_ids`).
    Forbidden,
    /// Core stopped (or was killed) before the install finished; found at its next start.
    Interrupted,
    /// A stable revision exited on its own (after probation); Core restarts it with backoff.
    Crashed,
    /// A stable revision failed its liveness probes several times in a row; Core restarts it.
    Unhealthy,
    /// Core itself failed (disk, database); nothing about the plugin is to blame.
    Internal,
}

impl ReasonCode {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::ManifestInvalid => "manifest_invalid",
            ReasonCode::BundleInvalid => "bundle_invalid",
            ReasonCode::DependencyConflict => "dependency_conflict",
            ReasonCode::EntryMissing => "entry_missing",
            ReasonCode::MigrationFailed => "migration_failed",
            ReasonCode::StartFailed => "start_failed",
            ReasonCode::HealthTimeout => "health_timeout",
            ReasonCode::HealthFailed => "health_failed",
            ReasonCode::CrashedInProbation => "crashed_in_probation",
            ReasonCode::BadRequest => "bad_request",
            ReasonCode::Forbidden => "forbidden",
            ReasonCode::Interrupted => "interrupted",
            ReasonCode::Crashed => "crashed",
            ReasonCode::Unhealthy => "unhealthy",
            ReasonCode::Internal => "internal",
        }
    }
}

/// Why an install failed, with the plugin's last stderr lines when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// Machine-readable reason.
    pub code: ReasonCode,
    /// Human-readable explanation.
    pub message: String,
    /// Last stderr lines of the failed process (empty when it never ran).
    #[serde(default)]
    pub log_tail: Vec<String>,
    /// Structured facts, e.g. the manifest diagnostics of `manifest_invalid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<serde_json::Value>,
}

/// A step of the install lifecycle, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading the directory or upload.
    Receive,
    /// Schema, SDK rules, entry, checksums.
    Validate,
    /// Core version, dependencies, collisions.
    Resolve,
    /// Writing the revision directory atomically.
    Stage,
    /// Running the plugin's migration command (only when it declares one).
    Migrate,
    /// Spawning the process.
    Start,
    /// Waiting for the health check.
    Health,
    /// Moving traffic to the new revision.
    Swap,
    /// Watching the new revision for early crashes.
    Probation,
}

impl Phase {
    /// All phases in lifecycle order.
    pub const ALL: [Phase; 9] = [
        Phase::Receive,
        Phase::Validate,
        Phase::Resolve,
        Phase::Stage,
        Phase::Migrate,
        Phase::Start,
        Phase::Health,
        Phase::Swap,
        Phase::Probation,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Receive => "receive",
            Phase::Validate => "validate",
            Phase::Resolve => "resolve",
            Phase::Stage => "stage",
            Phase::Migrate => "migrate",
            Phase::Start => "start",
            Phase::Health => "health",
            Phase::Swap => "swap",
            Phase::Probation => "probation",
        }
    }
}

/// One timed phase of an install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PhaseReport {
    /// Which phase.
    pub name: Phase,
    /// How long it took, in milliseconds.
    pub ms: u64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// The install report: the HTTP answer of an install and the CLI's `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstallReport {
    /// Unique id of this install; also on every event it caused.
    pub install_id: String,
    /// Plugin id (empty when the manifest could not be read).
    pub plugin_id: String,
    /// Version of the installed bundle (empty when unknown).
    pub version: String,
    /// Revision number given to this install, if it got that far.
    pub revision: Option<u64>,
    /// Outcome.
    pub status: InstallStatus,
    /// Why it failed; `null` when active.
    pub reason: Option<Reason>,
    /// The plugin's stable revision after this install.
    pub stable_revision: Option<u64>,
    /// Each phase that ran, in order.
    pub phases: Vec<PhaseReport>,
    /// Total time from receive to the answer, in milliseconds.
    pub duration_ms: u64,
}
