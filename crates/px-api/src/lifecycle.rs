//! Lifecycle events: the `data` of a `kind: event` message on
//! `plugin.dev.logs`, one variant per event, tagged by `data.event`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Reason;

/// How much a message matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Normal progress (and stdout lines).
    Info,
    /// Worth a look (and stderr lines).
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            other => Err(format!("unknown level {other:?} (info, warn or error)")),
        }
    }
}

/// How an install, reload or rollback ended (`install.succeeded`,
/// `install.rolled_back`, `install.rejected`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finished {
    /// From the request to the answer.
    pub duration_ms: u64,
    /// Why it did not go live; `null` when it did.
    pub reason: Option<Reason>,
    /// The stable revision afterwards.
    pub stable_revision: Option<u64>,
    /// Set when this Core brought its own instance in line with another
    /// Core's install (several Cores on one database).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub followed: bool,
}

/// A stable revision failed (`plugin.crashed`, `plugin.restart_failed`, `plugin.crash_loop`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Crash {
    /// What happened (`crashed`, `unhealthy`, or why a restart failed).
    pub reason: Reason,
    /// Crashes within `dev.liveness.window_ms`, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashes: Option<u32>,
    /// When the next restart is tried; absent in `crash_loop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// Restarts since the revision went live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

/// What happened to a plugin; the wire form is an object whose `event`
/// names the variant, beside the variant's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event")]
pub enum LifecycleEvent {
    /// An install, reload or rollback began (its plugin id is known).
    #[serde(rename = "install.started")]
    InstallStarted,
    /// A phase ended (`phase` of the message names it).
    #[serde(rename = "install.phase")]
    InstallPhase {
        /// How long it took.
        ms: u64,
        /// Whether it passed.
        ok: bool,
    },
    /// The new revision is live and stable.
    #[serde(rename = "install.succeeded")]
    InstallSucceeded(Finished),
    /// It failed after running; the stable revision serves.
    #[serde(rename = "install.rolled_back")]
    InstallRolledBack(Finished),
    /// It was refused before anything ran.
    #[serde(rename = "install.rejected")]
    InstallRejected(Finished),
    /// Core stopped before the install finished (seen at the next start).
    #[serde(rename = "install.interrupted")]
    InstallInterrupted,
    /// The stable revision crashed or failed its probes; it is restarted.
    #[serde(rename = "plugin.crashed")]
    Crashed(Crash),
    /// A restart did not become healthy; another follows.
    #[serde(rename = "plugin.restart_failed")]
    RestartFailed(Crash),
    /// Too many crashes in the window: no more restarts until an install.
    #[serde(rename = "plugin.crash_loop")]
    CrashLoop(Crash),
    /// The stable revision runs again after a crash.
    #[serde(rename = "plugin.restarted")]
    Restarted {
        /// Restarts since the revision went live.
        restarts: u32,
    },
    /// The stable revision started with Core.
    #[serde(rename = "plugin.started")]
    Started,
    /// Another Core's install did not start on this Core.
    #[serde(rename = "plugin.follow_failed")]
    FollowFailed {
        /// Always `true`.
        followed: bool,
        /// Why it did not start.
        reason: Reason,
    },
    /// The plugin was uninstalled (here or through another Core).
    #[serde(rename = "plugin.uninstalled")]
    Uninstalled,
    /// An event this program does not know (sent by a newer Core).
    #[serde(other)]
    Unknown,
}

impl LifecycleEvent {
    /// Every event name, as in `data.event`.
    pub const NAMES: [&'static str; 13] = [
        "install.started",
        "install.phase",
        "install.succeeded",
        "install.rolled_back",
        "install.rejected",
        "install.interrupted",
        "plugin.crashed",
        "plugin.restart_failed",
        "plugin.crash_loop",
        "plugin.restarted",
        "plugin.started",
        "plugin.follow_failed",
        "plugin.uninstalled",
    ];

    /// The name in `data.event`; `""` for [`LifecycleEvent::Unknown`].
    pub fn name(&self) -> &'static str {
        use LifecycleEvent::*;
        match self {
            InstallStarted => "install.started",
            InstallPhase { .. } => "install.phase",
            InstallSucceeded(_) => "install.succeeded",
            InstallRolledBack(_) => "install.rolled_back",
            InstallRejected(_) => "install.rejected",
            InstallInterrupted => "install.interrupted",
            Crashed(_) => "plugin.crashed",
            RestartFailed(_) => "plugin.restart_failed",
            CrashLoop(_) => "plugin.crash_loop",
            Restarted { .. } => "plugin.restarted",
            Started => "plugin.started",
            FollowFailed { .. } => "plugin.follow_failed",
            Uninstalled => "plugin.uninstalled",
            Unknown => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReasonCode;

    fn reason() -> Reason {
        Reason {
            code: ReasonCode::Crashed,
            message: "gone".into(),
            log_tail: Vec::new(),
            details: Vec::new(),
        }
    }

    fn every_event() -> Vec<LifecycleEvent> {
        let finished = Finished {
            duration_ms: 5,
            reason: None,
            stable_revision: Some(2),
            followed: false,
        };
        let crash = Crash {
            reason: reason(),
            crashes: Some(1),
            retry_in_ms: Some(100),
            restarts: Some(0),
        };
        vec![
            LifecycleEvent::InstallStarted,
            LifecycleEvent::InstallPhase { ms: 3, ok: true },
            LifecycleEvent::InstallSucceeded(finished.clone()),
            LifecycleEvent::InstallRolledBack(finished.clone()),
            LifecycleEvent::InstallRejected(finished),
            LifecycleEvent::InstallInterrupted,
            LifecycleEvent::Crashed(crash.clone()),
            LifecycleEvent::RestartFailed(crash.clone()),
            LifecycleEvent::CrashLoop(crash),
            LifecycleEvent::Restarted { restarts: 2 },
            LifecycleEvent::Started,
            LifecycleEvent::FollowFailed {
                followed: true,
                reason: reason(),
            },
            LifecycleEvent::Uninstalled,
        ]
    }

    #[test]
    fn names_are_the_wire_tags_and_round_trip() {
        let events = every_event();
        let names: Vec<&str> = events.iter().map(LifecycleEvent::name).collect();
        assert_eq!(names, LifecycleEvent::NAMES);
        for event in events {
            let wire = serde_json::to_value(&event).unwrap();
            assert_eq!(wire["event"], event.name(), "{wire}");
            assert_eq!(
                serde_json::from_value::<LifecycleEvent>(wire).unwrap(),
                event
            );
        }
    }

    #[test]
    fn the_wire_form_is_flat() {
        let phase =
            serde_json::to_value(LifecycleEvent::InstallPhase { ms: 7, ok: false }).unwrap();
        assert_eq!(
            phase,
            serde_json::json!({"event": "install.phase", "ms": 7, "ok": false})
        );
        let restarted = LifecycleEvent::Restarted { restarts: 1 };
        assert_eq!(
            serde_json::to_value(restarted).unwrap(),
            serde_json::json!({"event": "plugin.restarted", "restarts": 1})
        );
    }

    #[test]
    fn an_unknown_event_still_reads() {
        let event: LifecycleEvent =
            serde_json::from_value(serde_json::json!({"event": "plugin.teleported", "x": 1}))
                .unwrap();
        assert_eq!(event, LifecycleEvent::Unknown);
    }
}
