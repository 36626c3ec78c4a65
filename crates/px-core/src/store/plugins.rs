//! Plugins and their revisions: version, digest, status, reason and phases
//! (JSON as TEXT), timestamps, the stable revision of each plugin, and the
//! install that created each revision.

use std::str::FromStr;

use px_api::{InstallStatus, PhaseReport, Reason, RevisionInfo};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::text::{self, UnknownValue};
use super::{Store, now_ms};

/// Where a revision's install stands, as kept in `plugin_revisions.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevisionStatus {
    /// Its install has not finished (not a wire value).
    Installing,
    /// It went live.
    Active,
    /// It failed at or after start and the stable revision came back.
    RolledBack,
    /// It was refused before anything ran.
    Rejected,
}

impl RevisionStatus {
    /// Every status.
    pub const ALL: &[RevisionStatus] = &[
        RevisionStatus::Installing,
        RevisionStatus::Active,
        RevisionStatus::RolledBack,
        RevisionStatus::Rejected,
    ];

    /// The text kept in the database (the wire name for a finished install).
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionStatus::Installing => "installing",
            RevisionStatus::Active => "active",
            RevisionStatus::RolledBack => "rolled_back",
            RevisionStatus::Rejected => "rejected",
        }
    }

    /// How the install ended; `None` while it is still running.
    pub fn install_status(self) -> Option<InstallStatus> {
        match self {
            RevisionStatus::Installing => None,
            RevisionStatus::Active => Some(InstallStatus::Active),
            RevisionStatus::RolledBack => Some(InstallStatus::RolledBack),
            RevisionStatus::Rejected => Some(InstallStatus::Rejected),
        }
    }
}

impl From<InstallStatus> for RevisionStatus {
    fn from(status: InstallStatus) -> Self {
        match status {
            InstallStatus::Active => RevisionStatus::Active,
            InstallStatus::RolledBack => RevisionStatus::RolledBack,
            InstallStatus::Rejected => RevisionStatus::Rejected,
        }
    }
}

impl FromStr for RevisionStatus {
    type Err = UnknownValue;

    fn from_str(name: &str) -> Result<Self, UnknownValue> {
        text::parse("revision status", Self::ALL, Self::as_str, name)
    }
}

/// What a plugin runs, as kept in `plugins.kind` (the manifest's `runtime.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// A process started by Core.
    Process,
    /// Static admin files only.
    Static,
}

impl PluginKind {
    /// Every kind.
    pub const ALL: &[PluginKind] = &[PluginKind::Process, PluginKind::Static];

    /// The text kept in the database and shown on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Process => "process",
            PluginKind::Static => "static",
        }
    }
}

impl FromStr for PluginKind {
    type Err = UnknownValue;

    fn from_str(name: &str) -> Result<Self, UnknownValue> {
        text::parse("plugin kind", Self::ALL, Self::as_str, name)
    }
}

/// One `plugins` row.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRow {
    /// Plugin id.
    pub id: String,
    /// Display name of the latest staged revision.
    pub name: String,
    /// Whether it runs a process.
    pub kind: PluginKind,
    /// Last revision that passed probation.
    pub stable_revision: Option<u64>,
    /// Why the last install or run failed, if it did.
    pub last_reason: Option<Reason>,
    /// When the last install finished (epoch ms).
    pub last_install_at: Option<i64>,
    /// How long the last install took.
    pub last_install_ms: Option<u64>,
}

/// One `plugin_revisions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionRow {
    /// Plugin id.
    pub plugin_id: String,
    /// Revision number.
    pub revision: u64,
    /// Install that created it.
    pub install_id: String,
    /// Bundle version.
    pub version: String,
    /// Bundle digest.
    pub digest: String,
    /// Where its install stands.
    pub status: RevisionStatus,
    /// Why its install failed.
    pub reason: Option<Reason>,
    /// Timed phases.
    pub phases: Vec<PhaseReport>,
    /// Total install time.
    pub duration_ms: u64,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

impl RevisionRow {
    /// The wire view; `None` while its install is still running.
    pub fn info(&self) -> Option<RevisionInfo> {
        let status = self.status.install_status()?;
        Some(RevisionInfo {
            revision: self.revision,
            version: self.version.clone(),
            install_id: self.install_id.clone(),
            digest: self.digest.clone(),
            status,
            reason: self.reason.clone(),
            phases: self.phases.clone(),
            duration_ms: self.duration_ms,
            created_at: self.created_at,
        })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
    serde_json::from_str(&text?).ok()
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn plugin_row(row: &AnyRow) -> sqlx::Result<PluginRow> {
    Ok(PluginRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: text::column(row, "kind")?,
        stable_revision: row
            .try_get::<Option<i64>, _>("stable_revision")?
            .map(to_u64),
        last_reason: from_json(row.try_get("last_reason")?),
        last_install_at: row.try_get("last_install_at")?,
        last_install_ms: row
            .try_get::<Option<i64>, _>("last_install_ms")?
            .map(to_u64),
    })
}

fn revision_row(row: &AnyRow) -> sqlx::Result<RevisionRow> {
    Ok(RevisionRow {
        plugin_id: row.try_get("plugin_id")?,
        revision: to_u64(row.try_get("revision")?),
        install_id: row.try_get("install_id")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        status: text::column(row, "status")?,
        reason: from_json(row.try_get("reason")?),
        phases: from_json(Some(row.try_get("phases")?)).unwrap_or_default(),
        duration_ms: to_u64(row.try_get("duration_ms")?),
        created_at: row.try_get("created_at")?,
    })
}

const PLUGIN_COLUMNS: &str =
    "id, name, kind, stable_revision, last_reason, last_install_at, last_install_ms";
const REVISION_COLUMNS: &str = "plugin_id, revision, install_id, version, digest, status, reason, phases, duration_ms, created_at";

impl Store {
    /// Creates the plugin row, or updates its name and kind.
    pub async fn upsert_plugin(
        &self,
        id: &str,
        name: &str,
        kind: PluginKind,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO plugins (id, name, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET name = $2, kind = $3, updated_at = $4",
        )
        .bind(id)
        .bind(name)
        .bind(kind.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// All plugins, sorted by id.
    pub async fn plugins(&self) -> anyhow::Result<Vec<PluginRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(plugin_row).collect::<sqlx::Result<_>>()?)
    }

    /// One plugin.
    pub async fn plugin(&self, id: &str) -> anyhow::Result<Option<PluginRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(plugin_row).transpose()?)
    }

    /// Removes a plugin and its revisions (with their bundles), all or
    /// nothing: one transaction.
    pub async fn delete_plugin(&self, id: &str) -> anyhow::Result<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM plugin_revisions WHERE plugin_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM plugins WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets the stable revision.
    pub async fn set_stable_revision(&self, id: &str, revision: Option<u64>) -> anyhow::Result<()> {
        sqlx::query("UPDATE plugins SET stable_revision = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(revision.map(to_i64))
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records the end of an install or run: its reason (`None` = success) and timing.
    pub async fn record_outcome(
        &self,
        id: &str,
        reason: Option<&Reason>,
        duration_ms: Option<u64>,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE plugins SET last_reason = $2, last_install_at = COALESCE($3, last_install_at), \
             last_install_ms = COALESCE($4, last_install_ms), updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(reason.map(to_json))
        .bind(duration_ms.map(|_| now))
        .bind(duration_ms.map(to_i64))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The next free revision number of a plugin (1 for the first).
    pub async fn next_revision(&self, id: &str) -> anyhow::Result<u64> {
        let row =
            sqlx::query("SELECT MAX(revision) AS last FROM plugin_revisions WHERE plugin_id = $1")
                .bind(id)
                .fetch_one(self.pool())
                .await?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(last.map_or(1, |n| to_u64(n) + 1))
    }

    /// Records a revision whose install is under way (status `installing`).
    pub async fn insert_revision(&self, row: &RevisionRow) -> anyhow::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO plugin_revisions ({REVISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(&row.plugin_id)
        .bind(to_i64(row.revision))
        .bind(&row.install_id)
        .bind(&row.version)
        .bind(&row.digest)
        .bind(row.status.as_str())
        .bind(row.reason.as_ref().map(to_json))
        .bind(to_json(&row.phases))
        .bind(to_i64(row.duration_ms))
        .bind(row.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records how a revision's install ended.
    pub async fn finish_revision(
        &self,
        plugin_id: &str,
        revision: u64,
        status: InstallStatus,
        reason: Option<&Reason>,
        phases: &[PhaseReport],
        duration_ms: u64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE plugin_revisions SET status = $3, reason = $4, phases = $5, duration_ms = $6, \
             finished_at = $7 WHERE plugin_id = $1 AND revision = $2",
        )
        .bind(plugin_id)
        .bind(to_i64(revision))
        .bind(RevisionStatus::from(status).as_str())
        .bind(reason.map(to_json))
        .bind(to_json(&phases))
        .bind(to_i64(duration_ms))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Revisions of a plugin, newest first.
    pub async fn revisions(&self, plugin_id: &str) -> anyhow::Result<Vec<RevisionRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REVISION_COLUMNS} FROM plugin_revisions WHERE plugin_id = $1 ORDER BY revision DESC"
        )))
        .bind(plugin_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(revision_row).collect::<sqlx::Result<_>>()?)
    }

    /// One revision.
    pub async fn revision(
        &self,
        plugin_id: &str,
        revision: u64,
    ) -> anyhow::Result<Option<RevisionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REVISION_COLUMNS} FROM plugin_revisions WHERE plugin_id = $1 AND revision = $2"
        )))
        .bind(plugin_id)
        .bind(to_i64(revision))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(revision_row).transpose()?)
    }

    /// Forgets a pruned revision.
    pub async fn delete_revision(&self, plugin_id: &str, revision: u64) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM plugin_revisions WHERE plugin_id = $1 AND revision = $2")
            .bind(plugin_id)
            .bind(to_i64(revision))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revisions whose install never finished (Core stopped mid-install).
    pub async fn unfinished_revisions(&self) -> anyhow::Result<Vec<RevisionRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REVISION_COLUMNS} FROM plugin_revisions WHERE status = $1 ORDER BY plugin_id, revision"
        )))
        .bind(RevisionStatus::Installing.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(revision_row).collect::<sqlx::Result<_>>()?)
    }
}
