//! The audit rules (SPEC §3.6): which dev actions leave a row, what the row
//! says (action, result, reason), and the install metrics that follow from
//! the same outcome. The store only keeps rows ([`crate::store::audit`]); the
//! HTTP handlers only call these.

use std::net::IpAddr;
use std::time::Duration;

use px_api::{InstallReport, InstallStatus, PluginSummary, Reason, ReasonCode};

use crate::state::AppState;
use crate::store::Store;
use crate::store::audit::{AuditAction, AuditEntry, AuditResult};

/// What the caller asked for when the answer is an install report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// An install or a hot reload.
    Install,
    /// A rollback.
    Rollback,
}

/// The `reason` of a row that failed: `code: message`.
pub fn reason_text(reason: &Reason) -> String {
    format!("{}: {}", reason.code.as_str(), reason.message)
}

/// Refused by the policy (`dev.plugin_ids`): a denial, not a failed install.
fn is_denied(report: &InstallReport) -> bool {
    report
        .reason
        .as_ref()
        .is_some_and(|r| r.code == ReasonCode::Forbidden)
}

/// The row of an install, reload or rollback: an install of a plugin that
/// had a revision before is a reload, a policy refusal is a denial.
pub fn report_entry(
    actor: &str,
    remote: IpAddr,
    asked: Asked,
    report: &InstallReport,
) -> AuditEntry {
    let denied = is_denied(report);
    let action = match (asked, report.revision) {
        _ if denied => AuditAction::Denied,
        (Asked::Install, Some(revision)) if revision > 1 => AuditAction::Reload,
        (Asked::Install, _) => AuditAction::Install,
        (Asked::Rollback, _) => AuditAction::Rollback,
    };
    let result = match (denied, report.status) {
        (true, _) => AuditResult::Denied,
        (false, InstallStatus::Active) => AuditResult::Success,
        (false, _) => AuditResult::Failure,
    };
    AuditEntry {
        plugin_id: Some(report.plugin_id.clone()).filter(|id| !id.is_empty()),
        version: Some(report.version.clone()).filter(|v| !v.is_empty()),
        revision: report.revision.and_then(|r| i64::try_from(r).ok()),
        install_id: Some(report.install_id.clone()),
        reason: report.reason.as_ref().map(reason_text),
        remote_addr: Some(remote.to_string()),
        ..AuditEntry::new(actor, action, result)
    }
}

/// Records a finished install, reload or rollback: its row, and the install
/// metrics (an install that was not denied counts as one; a revision that
/// was rolled back, or a rollback that went live, counts as a rollback).
pub async fn record_report(
    state: &AppState,
    actor: &str,
    remote: IpAddr,
    asked: Asked,
    report: &InstallReport,
) {
    let success = report.status == InstallStatus::Active;
    if asked == Asked::Install && !is_denied(report) {
        let duration = Duration::from_millis(report.duration_ms);
        state.metrics.install_finished(success, duration);
    }
    if report.status == InstallStatus::RolledBack || asked == Asked::Rollback && success {
        state.metrics.rolled_back();
    }
    write(&state.store, report_entry(actor, remote, asked, report)).await;
}

/// Records an uninstall; `removed` is the plugin as it was, for its version
/// and revision.
pub async fn record_uninstall(
    state: &AppState,
    actor: &str,
    remote: IpAddr,
    plugin_id: &str,
    removed: Option<&PluginSummary>,
) {
    let entry = AuditEntry {
        plugin_id: Some(plugin_id.to_owned()),
        version: removed.map(|s| s.version.clone()),
        revision: removed
            .and_then(|s| s.revision)
            .and_then(|r| i64::try_from(r).ok()),
        remote_addr: Some(remote.to_string()),
        ..AuditEntry::new(actor, AuditAction::Uninstall, AuditResult::Success)
    };
    write(&state.store, entry).await;
}

/// Appends a row; a store error is logged, never the audited action's failure.
pub async fn write(store: &Store, entry: AuditEntry) {
    if let Err(error) = store.audit_insert(entry).await {
        tracing::error!("cannot write audit row: {error:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        revision: Option<u64>,
        status: InstallStatus,
        code: Option<ReasonCode>,
    ) -> InstallReport {
        InstallReport {
            install_id: "i".into(),
            plugin_id: "com.a.b".into(),
            version: "1.0.0".into(),
            revision,
            status,
            reason: code.map(|code| Reason {
                code,
                message: "why".into(),
                log_tail: Vec::new(),
                details: Vec::new(),
            }),
            stable_revision: None,
            phases: Vec::new(),
            duration_ms: 5,
        }
    }

    fn said(asked: Asked, report: &InstallReport) -> (AuditAction, AuditResult) {
        let entry = report_entry("ann", IpAddr::from([127, 0, 0, 1]), asked, report);
        (entry.action, entry.result)
    }

    #[test]
    fn install_reload_rollback_and_denial() {
        use AuditAction as A;
        use AuditResult as R;
        let first = report(Some(1), InstallStatus::Active, None);
        assert_eq!(said(Asked::Install, &first), (A::Install, R::Success));
        let again = report(
            Some(2),
            InstallStatus::RolledBack,
            Some(ReasonCode::HealthFailed),
        );
        assert_eq!(said(Asked::Install, &again), (A::Reload, R::Failure));
        assert_eq!(said(Asked::Rollback, &again), (A::Rollback, R::Failure));
        let refused = report(None, InstallStatus::Rejected, Some(ReasonCode::Forbidden));
        assert_eq!(said(Asked::Install, &refused), (A::Denied, R::Denied));
        let entry = report_entry("ann", IpAddr::from([10, 0, 0, 1]), Asked::Install, &refused);
        assert_eq!(entry.reason.as_deref(), Some("forbidden: why"));
        assert_eq!(entry.remote_addr.as_deref(), Some("10.0.0.1"));
    }
}
