//! The audit log (SPEC §3.6): one row per dev action, login and denied attempt.

use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;

use super::text::{self, UnknownValue};
use super::{Store, now_ms};

/// What an audit row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A plugin's first install (or an install after an uninstall).
    Install,
    /// An install of a plugin that had a revision before.
    Reload,
    /// A rollback asked for through the API.
    Rollback,
    /// An uninstall.
    Uninstall,
    /// Core starting a plugin's stable revision on its own after it started.
    Recover,
    /// An Admin or API sign-in.
    Login,
    /// A request refused for lack of a credential or a permission.
    Denied,
    /// A personal token created in Admin.
    TokenCreate,
}

impl AuditAction {
    /// Every action.
    pub const ALL: &[AuditAction] = &[
        AuditAction::Install,
        AuditAction::Reload,
        AuditAction::Rollback,
        AuditAction::Uninstall,
        AuditAction::Recover,
        AuditAction::Login,
        AuditAction::Denied,
        AuditAction::TokenCreate,
    ];

    /// The text kept in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Install => "install",
            AuditAction::Reload => "reload",
            AuditAction::Rollback => "rollback",
            AuditAction::Uninstall => "uninstall",
            AuditAction::Recover => "recover",
            AuditAction::Login => "login",
            AuditAction::Denied => "denied",
            AuditAction::TokenCreate => "token_create",
        }
    }
}

impl FromStr for AuditAction {
    type Err = UnknownValue;

    fn from_str(name: &str) -> Result<Self, UnknownValue> {
        text::parse("audit action", Self::ALL, Self::as_str, name)
    }
}

/// How the audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// It did what was asked.
    Success,
    /// It was tried and failed.
    Failure,
    /// It was refused: no credential, no permission, or not allowed by the policy.
    Denied,
}

impl AuditResult {
    /// Every result.
    pub const ALL: &[AuditResult] = &[
        AuditResult::Success,
        AuditResult::Failure,
        AuditResult::Denied,
    ];

    /// The text kept in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Failure => "failure",
            AuditResult::Denied => "denied",
        }
    }
}

impl FromStr for AuditResult {
    type Err = UnknownValue;

    fn from_str(name: &str) -> Result<Self, UnknownValue> {
        text::parse("audit result", Self::ALL, Self::as_str, name)
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Row id (set by the store).
    pub id: String,
    /// When (epoch ms; set by the store when 0).
    pub at: i64,
    /// User name, `plugin:<id>`, `core` or `anonymous`.
    pub actor: String,
    /// What happened.
    pub action: AuditAction,
    /// Plugin concerned.
    pub plugin_id: Option<String>,
    /// Plugin version.
    pub version: Option<String>,
    /// Revision.
    pub revision: Option<i64>,
    /// Install id.
    pub install_id: Option<String>,
    /// How it ended.
    pub result: AuditResult,
    /// Why (reason code and message).
    pub reason: Option<String>,
    /// Caller's address.
    pub remote_addr: Option<String>,
}

impl AuditEntry {
    /// A row saying `actor` did `action` with `result`, at the time it is
    /// written; every other field empty.
    pub fn new(actor: impl Into<String>, action: AuditAction, result: AuditResult) -> Self {
        AuditEntry {
            id: String::new(),
            at: 0,
            actor: actor.into(),
            action,
            plugin_id: None,
            version: None,
            revision: None,
            install_id: None,
            result,
            reason: None,
            remote_addr: None,
        }
    }
}

/// Filters for [`Store::audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this plugin.
    pub plugin_id: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this result.
    pub result: Option<AuditResult>,
    /// Only rows at or after (epoch ms).
    pub since: Option<i64>,
    /// Only rows before (epoch ms).
    pub until: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Rows to skip (newest first).
    pub offset: i64,
}

impl Store {
    /// Appends an audit row.
    pub async fn audit_insert(&self, mut entry: AuditEntry) -> anyhow::Result<()> {
        if entry.at == 0 {
            entry.at = now_ms();
        }
        sqlx::query(
            "INSERT INTO audit (id, at, actor, action, plugin_id, version, revision, install_id, result, reason, remote_addr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(entry.action.as_str())
        .bind(&entry.plugin_id)
        .bind(&entry.version)
        .bind(entry.revision)
        .bind(&entry.install_id)
        .bind(entry.result.as_str())
        .bind(&entry.reason)
        .bind(&entry.remote_addr)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Audit rows matching the filter, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> anyhow::Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, plugin_id, version, revision, install_id, result, reason, remote_addr FROM audit \
             WHERE (CAST($1 AS TEXT) IS NULL OR plugin_id = $1) AND (CAST($2 AS TEXT) IS NULL OR actor = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR action = $3) AND (CAST($4 AS TEXT) IS NULL OR result = $4) \
             AND at >= $5 AND at < $6 ORDER BY at DESC, id DESC LIMIT $7 OFFSET $8",
        )
        .bind(&filter.plugin_id)
        .bind(&filter.actor)
        .bind(filter.action.map(AuditAction::as_str))
        .bind(filter.result.map(AuditResult::as_str))
        .bind(filter.since.unwrap_or(0))
        .bind(filter.until.unwrap_or(i64::MAX))
        .bind(filter.limit.clamp(1, 1000))
        .bind(filter.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: text::column(row, "action")?,
                    plugin_id: row.try_get("plugin_id")?,
                    version: row.try_get("version")?,
                    revision: row.try_get("revision")?,
                    install_id: row.try_get("install_id")?,
                    result: text::column(row, "result")?,
                    reason: row.try_get("reason")?,
                    remote_addr: row.try_get("remote_addr")?,
                })
            })
            .collect()
    }

    /// Deletes audit rows older than `before` (epoch ms); returns how many.
    pub async fn audit_prune(&self, before: i64) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM audit WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
