//! One install (or rollback) in progress: its timed phases, its events on the
//! bus, and the report it ends with.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use px_api::{
    Finished, InstallReport, InstallStatus, Level, LifecycleEvent, Phase, PhaseReport, Reason,
    ReasonCode,
};

use crate::events::{Event, EventBus};

/// What kind of failure ended an install; `http/` answers each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The request itself was wrong (body, path, no stable revision).
    BadRequest,
    /// The policy does not allow this plugin id.
    Forbidden,
    /// The bundle or revision is larger than the policy allows.
    TooLarge,
    /// A dependency, version or collision check failed.
    Conflict,
    /// The manifest, bundle or entry is invalid.
    Invalid,
    /// It ran and failed (start, health, probation); the stable revision serves.
    Failed,
    /// Core's own fault (disk, database).
    Internal,
}

impl FailureKind {
    /// Refused before anything ran, rather than ran and rolled back.
    fn is_refusal(self) -> bool {
        !matches!(self, FailureKind::Failed | FailureKind::Internal)
    }
}

/// Why an install did not go live.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub code: ReasonCode,
    pub message: String,
    pub log_tail: Vec<String>,
    pub details: Vec<serde_json::Value>,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, code: ReasonCode, message: impl Into<String>) -> Self {
        Failure {
            kind,
            code,
            message: message.into(),
            log_tail: Vec::new(),
            details: Vec::new(),
        }
    }

    /// `bad_request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(FailureKind::BadRequest, ReasonCode::BadRequest, message)
    }

    /// `bundle_invalid`.
    pub(crate) fn bundle(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Invalid, ReasonCode::BundleInvalid, message)
    }

    /// `dependency_conflict`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(
            FailureKind::Conflict,
            ReasonCode::DependencyConflict,
            message,
        )
    }

    /// A start, health or probation failure.
    pub(crate) fn runtime(
        code: ReasonCode,
        message: impl Into<String>,
        log_tail: Vec<String>,
    ) -> Self {
        Failure {
            log_tail,
            ..Self::new(FailureKind::Failed, code, message)
        }
    }

    /// `internal`: Core's own faults (disk, database).
    pub(crate) fn internal(error: &anyhow::Error) -> Self {
        tracing::error!("install failed inside Core: {error:#}");
        Self::new(
            FailureKind::Internal,
            ReasonCode::Internal,
            format!("core error: {error:#}"),
        )
    }

    pub(crate) fn reason(&self) -> Reason {
        Reason {
            code: self.code,
            message: self.message.clone(),
            log_tail: self.log_tail.clone(),
            details: self.details.clone(),
        }
    }

    /// Rejected before anything ran, or rolled back.
    pub(crate) fn install_status(&self) -> InstallStatus {
        if self.kind.is_refusal() {
            InstallStatus::Rejected
        } else {
            InstallStatus::RolledBack
        }
    }
}

/// Lets `?` turn Core's own errors into a 500 failure.
pub(crate) trait OrInternal<T> {
    fn or_internal(self) -> Result<T, Failure>;
}

impl<T> OrInternal<T> for anyhow::Result<T> {
    fn or_internal(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::internal(&e))
    }
}

/// An install or rollback under way.
#[derive(Debug)]
pub(crate) struct Run {
    pub install_id: String,
    pub plugin_id: String,
    pub version: String,
    pub revision: Option<u64>,
    pub phases: Vec<PhaseReport>,
    started: Instant,
    events: Arc<EventBus>,
    /// Phase events wait until the plugin id is known.
    announced: bool,
    action: &'static str,
}

impl Run {
    pub(crate) fn new(events: Arc<EventBus>, action: &'static str) -> Self {
        Run {
            install_id: uuid::Uuid::now_v7().simple().to_string(),
            plugin_id: String::new(),
            version: String::new(),
            revision: None,
            phases: Vec::new(),
            started: Instant::now(),
            events,
            announced: false,
            action,
        }
    }

    /// A run that publishes nothing: restarts, follows and recovery report
    /// through their own events.
    pub(crate) fn quiet(events: Arc<EventBus>) -> Self {
        Self::new(events, "starting")
    }

    /// Milliseconds since the run began.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Names the plugin: emits `install.started`, then the phases so far.
    pub(crate) fn announce(&mut self, plugin_id: &str, version: &str) {
        self.plugin_id = plugin_id.to_owned();
        self.version = version.to_owned();
        self.announced = true;
        self.emit(
            LifecycleEvent::InstallStarted,
            None,
            Level::Info,
            format!("{} {} {}", self.action, plugin_id, version),
        );
        for phase in self.phases.clone() {
            self.emit_phase(&phase);
        }
    }

    /// Runs one phase, timing it.
    pub(crate) async fn phase<T>(
        &mut self,
        phase: Phase,
        work: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let start = Instant::now();
        let result = work.await;
        self.record(phase, start, result.is_ok());
        result
    }

    /// Records a phase that ran from `start` until now.
    pub(crate) fn record(&mut self, phase: Phase, start: Instant, ok: bool) {
        let report = PhaseReport {
            name: phase,
            ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok,
        };
        if self.announced {
            self.emit_phase(&report);
        }
        self.phases.push(report);
    }

    fn emit_phase(&self, phase: &PhaseReport) {
        let outcome = if phase.ok { "ok" } else { "failed" };
        self.emit(
            LifecycleEvent::InstallPhase {
                ms: phase.ms,
                ok: phase.ok,
            },
            Some(phase.name),
            if phase.ok { Level::Info } else { Level::Error },
            format!("{} {} in {} ms", phase.name.as_str(), outcome, phase.ms),
        );
    }

    /// Publishes an event of this run (only once the plugin id is known).
    pub(crate) fn emit(
        &self,
        event: LifecycleEvent,
        phase: Option<Phase>,
        level: Level,
        message: String,
    ) {
        if self.plugin_id.is_empty() {
            return;
        }
        self.events.event(Event {
            plugin_id: self.plugin_id.clone(),
            revision: self.revision,
            install_id: Some(self.install_id.clone()),
            event,
            phase,
            level,
            message,
        });
    }

    /// The final report, also published as the run's last event.
    pub(crate) fn finish(
        self,
        outcome: Result<(), &Failure>,
        stable_revision: Option<u64>,
    ) -> InstallReport {
        let (status, reason) = match outcome {
            Ok(()) => (InstallStatus::Active, None),
            Err(failure) => (failure.install_status(), Some(failure.reason())),
        };
        let report = InstallReport {
            install_id: self.install_id.clone(),
            plugin_id: self.plugin_id.clone(),
            version: self.version.clone(),
            revision: self.revision,
            status,
            reason,
            stable_revision,
            phases: self.phases.clone(),
            duration_ms: self.elapsed_ms(),
        };
        let finished = Finished {
            duration_ms: report.duration_ms,
            reason: report.reason.clone(),
            stable_revision,
            followed: false,
        };
        let described = |r: &Option<px_api::Reason>| {
            r.as_ref()
                .map(|r| format!("{}: {}", r.code.as_str(), r.message))
                .unwrap_or_default()
        };
        let (event, level, message) = match &report.status {
            InstallStatus::Active => (
                LifecycleEvent::InstallSucceeded(finished),
                Level::Info,
                format!("revision {} is live", self.revision.unwrap_or_default()),
            ),
            InstallStatus::RolledBack if report.reason.is_some() => (
                LifecycleEvent::InstallRolledBack(finished),
                Level::Error,
                described(&report.reason),
            ),
            _ => (
                LifecycleEvent::InstallRejected(finished),
                Level::Error,
                described(&report.reason),
            ),
        };
        self.emit(event, None, level, message);
        report
    }
}

/// Outcome of an install for the HTTP layer.
#[derive(Debug, Clone)]
pub struct InstallOutcome {
    /// `None` when the new revision is live; else what kind of failure ended it.
    pub failure: Option<FailureKind>,
    /// The install report.
    pub report: InstallReport,
}
