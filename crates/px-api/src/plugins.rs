//! Read views of installed plugins (`GET /api/plugins`, `GET /api/plugins/{id}`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{InstallStatus, PhaseReport, Reason};

/// What a plugin is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// An install or restart is under way.
    Starting,
    /// Serving from its current revision.
    Active,
    /// The last install failed and was rolled back; the stable revision serves.
    RolledBack,
    /// No revision runs (it crashed and could not be restarted, or never became stable).
    Failed,
    /// Crashed after probation; being restarted with backoff.
    Restarting,
    /// Stopped on purpose (e.g. Core shutting down).
    Stopped,
    /// Crashed or failed its liveness probes too often in a short window:
    /// no longer restarted until the next install or rollback. `last_reason` says why.
    CrashLoop,
}

/// One installed plugin, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginSummary {
    /// Plugin id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Version of the running revision.
    pub version: String,
    /// Running revision.
    pub revision: Option<u64>,
    /// Last revision that passed probation.
    pub stable_revision: Option<u64>,
    /// Current state.
    pub state: PluginState,
    /// `process` or `static`.
    pub kind: String,
    /// Content digest of the running revision (compare with a local build to spot staleness).
    pub digest: Option<String>,
    /// When the last install finished (Unix epoch milliseconds).
    pub last_install_at: Option<i64>,
    /// How long the last install took.
    pub last_install_ms: Option<u64>,
    /// Why the last install or run failed, if it did.
    pub last_reason: Option<Reason>,
    /// Restarts since the revision became stable.
    pub restarts: u32,
}

/// One revision in a plugin's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevisionInfo {
    /// Revision number, increasing per plugin.
    pub revision: u64,
    /// Bundle version.
    pub version: String,
    /// Install that created it.
    pub install_id: String,
    /// Content digest of the bundle.
    pub digest: String,
    /// How its install ended.
    pub status: InstallStatus,
    /// Why it failed, if it did.
    pub reason: Option<Reason>,
    /// Timed phases of its install.
    pub phases: Vec<PhaseReport>,
    /// Total install time.
    pub duration_ms: u64,
    /// When it was installed (Unix epoch milliseconds).
    pub created_at: i64,
}

/// One plugin with its history (`GET /api/plugins/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: PluginSummary,
    /// Description from the manifest.
    pub description: Option<String>,
    /// The running revision's manifest.
    pub manifest: serde_json::Value,
    /// Revisions kept on disk, newest first.
    pub revisions: Vec<RevisionInfo>,
}

/// `GET /api/plugins` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginList {
    /// Installed plugins, sorted by id.
    pub plugins: Vec<PluginSummary>,
}
