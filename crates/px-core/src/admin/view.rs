//! Plugin data as the templates show it: words, not enums; strings ready
//! to print.

use px_api::{InstallStatus, PluginState, PluginSummary, Reason, RevisionInfo};

use super::time::{format_duration, format_ms};

/// One plugin as a row of the plugins table or the head of its detail page.
#[derive(Debug, Clone)]
pub struct PluginView {
    /// Plugin id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Running version.
    pub version: String,
    /// `r3`, or `—` when nothing runs.
    pub revision: String,
    /// `r2`, or `—`.
    pub stable: String,
    /// CSS key of the state: `active`, `rolled-back`, `failed`, …
    pub state_key: &'static str,
    /// The state in words.
    pub state: &'static str,
    /// Health in words.
    pub health: String,
    /// Whether it is healthy.
    pub healthy: bool,
    /// When the last install finished, or `—`.
    pub last_install: String,
    /// How long it took, or `—`.
    pub duration: String,
    /// Why the last install or run failed, if it did.
    pub reason: Option<ReasonView>,
    /// `process` or `static`.
    pub kind: String,
    /// First 12 hex digits of the running revision's digest.
    pub digest: String,
}

/// A failure reason.
#[derive(Debug, Clone)]
pub struct ReasonView {
    /// `health_failed`, …
    pub code: String,
    /// What happened.
    pub message: String,
    /// The plugin's last stderr lines.
    pub log_tail: String,
}

impl From<&Reason> for ReasonView {
    fn from(reason: &Reason) -> Self {
        ReasonView {
            code: reason.code.as_str().to_owned(),
            message: reason.message.clone(),
            log_tail: reason.log_tail.join("\n"),
        }
    }
}

/// A plugin state's CSS key and words.
pub fn state_words(state: PluginState) -> (&'static str, &'static str) {
    match state {
        PluginState::Starting => ("starting", "starting"),
        PluginState::Active => ("active", "active"),
        PluginState::RolledBack => ("rolled-back", "rolled back"),
        PluginState::Failed => ("failed", "failed"),
        PluginState::Restarting => ("restarting", "restarting"),
        PluginState::Stopped => ("stopped", "stopped"),
        PluginState::CrashLoop => ("crash-loop", "crash loop"),
    }
}

fn rev(revision: Option<u64>) -> String {
    revision.map_or_else(|| "—".to_owned(), |r| format!("r{r}"))
}

impl From<&PluginSummary> for PluginView {
    fn from(p: &PluginSummary) -> Self {
        let (state_key, state) = state_words(p.state);
        let runs = p.revision.is_some();
        let (healthy, health) = match p.state {
            PluginState::Active | PluginState::RolledBack if runs => (true, "healthy".to_owned()),
            PluginState::Starting if runs => (true, "healthy (reloading)".to_owned()),
            PluginState::Starting => (false, "starting".to_owned()),
            PluginState::Restarting => (false, format!("down, restart {}", p.restarts)),
            PluginState::Stopped => (false, "stopped".to_owned()),
            PluginState::CrashLoop => (false, format!("down after {} restarts", p.restarts)),
            _ => (false, "down".to_owned()),
        };
        let health = if healthy && p.restarts > 0 {
            format!("{health} · {} restarts", p.restarts)
        } else {
            health
        };
        PluginView {
            id: p.id.clone(),
            name: p.name.clone(),
            version: if p.version.is_empty() {
                "—".to_owned()
            } else {
                p.version.clone()
            },
            revision: rev(p.revision),
            stable: rev(p.stable_revision),
            state_key,
            state,
            health,
            healthy,
            last_install: p.last_install_at.map_or_else(|| "—".to_owned(), format_ms),
            duration: p
                .last_install_ms
                .map_or_else(|| "—".to_owned(), format_duration),
            // a reason stays recorded after a later success; show it only while it matters
            reason: match p.state {
                PluginState::Active => None,
                _ => p.last_reason.as_ref().map(ReasonView::from),
            },
            kind: p.kind.clone(),
            digest: p
                .digest
                .as_deref()
                .map(|d| d.trim_start_matches("sha256:").chars().take(12).collect())
                .unwrap_or_default(),
        }
    }
}

/// One revision in a plugin's history.
#[derive(Debug, Clone)]
pub struct RevisionView {
    /// Revision number.
    pub number: u64,
    /// Bundle version.
    pub version: String,
    /// CSS key of the outcome.
    pub status_key: &'static str,
    /// The outcome in words.
    pub status: &'static str,
    /// When it was installed.
    pub created: String,
    /// Install time.
    pub duration: String,
    /// Timed phases.
    pub phases: Vec<PhaseView>,
    /// Why it failed.
    pub reason: Option<ReasonView>,
    /// It is the running revision.
    pub running: bool,
    /// It is the stable revision.
    pub stable: bool,
    /// It can be switched to (it went live once and is not running).
    pub can_switch: bool,
    /// Install id.
    pub install_id: String,
}

/// One timed phase.
#[derive(Debug, Clone)]
pub struct PhaseView {
    /// Phase name.
    pub name: &'static str,
    /// Duration in words.
    pub ms: String,
    /// Whether it succeeded.
    pub ok: bool,
}

impl RevisionView {
    /// A revision, knowing which one runs and which is stable.
    pub fn new(r: &RevisionInfo, running: Option<u64>, stable: Option<u64>) -> Self {
        let (status_key, status) = match r.status {
            InstallStatus::Active => ("active", "went live"),
            InstallStatus::RolledBack => ("rolled-back", "rolled back"),
            InstallStatus::Rejected => ("failed", "rejected"),
        };
        let is_running = running == Some(r.revision);
        RevisionView {
            number: r.revision,
            version: r.version.clone(),
            status_key,
            status,
            created: format_ms(r.created_at),
            duration: format_duration(r.duration_ms),
            phases: r
                .phases
                .iter()
                .map(|p| PhaseView {
                    name: p.name.as_str(),
                    ms: format_duration(p.ms),
                    ok: p.ok,
                })
                .collect(),
            reason: r.reason.as_ref().map(ReasonView::from),
            running: is_running,
            stable: stable == Some(r.revision),
            can_switch: r.status == InstallStatus::Active && !is_running,
            install_id: r.install_id.clone(),
        }
    }
}
