//! The `plugin.dev.logs` channel: plugin log lines and lifecycle events (SPEC §3.4).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Level, LifecycleEvent, Phase};

/// Name of the one channel.
pub const LOGS_CHANNEL: &str = "plugin.dev.logs";

/// A log line or a lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A line the plugin printed.
    Log,
    /// A lifecycle step (`data.event` names it, e.g. `install.started`).
    Event,
}

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStream {
    /// The plugin's standard output.
    Stdout,
    /// The plugin's standard error.
    Stderr,
    /// Core itself (lifecycle events).
    Core,
}

/// Which process of a revision a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessRole {
    /// The plugin's backend (`runtime.entry`), serving `/_p/{id}/api/*`.
    Backend,
    /// The admin server (`admin.process`), serving `/_p/{id}/admin/*`.
    Admin,
}

impl ProcessRole {
    /// `backend` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessRole::Backend => "backend",
            ProcessRole::Admin => "admin",
        }
    }
}

impl std::fmt::Display for ProcessRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProcessRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "backend" => Ok(ProcessRole::Backend),
            "admin" => Ok(ProcessRole::Admin),
            other => Err(format!("unknown process {other:?} (backend or admin)")),
        }
    }
}

/// One message on `plugin.dev.logs`, as sent over the WebSocket and returned by the logs API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogMessage {
    /// Always [`LOGS_CHANNEL`].
    pub channel: String,
    /// Monotonically increasing across all plugins of one Core.
    pub seq: u64,
    /// Unix epoch milliseconds.
    pub ts: i64,
    /// Plugin the message is about.
    pub plugin_id: String,
    /// Revision the line or event belongs to.
    pub revision: Option<u64>,
    /// Install that caused it, if any.
    pub install_id: Option<String>,
    /// Log line or event.
    pub kind: MessageKind,
    /// stdout, stderr or core.
    pub stream: MessageStream,
    /// `info`, `warn` or `error`.
    pub level: Level,
    /// The line, or the event's one-line description.
    pub message: String,
    /// For events: the lifecycle phase, if any.
    pub phase: Option<Phase>,
    /// For events: `{"event": "install.started", …}`; `null` for log lines.
    pub data: Option<LifecycleEvent>,
    /// For log lines: the process that wrote it; absent for Core's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRole>,
}

/// `GET /api/plugins/{id}/logs` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogsResponse {
    /// Messages, oldest first.
    pub messages: Vec<LogMessage>,
}
