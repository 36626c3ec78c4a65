//! The `plugin.dev.logs` channel: plugin log lines and lifecycle events (SPEC §3.4).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    pub level: String,
    /// The line, or the event's one-line description.
    pub message: String,
    /// For events: the lifecycle phase, if any.
    pub phase: Option<String>,
    /// For events: `{"event": "install.started", …}`; `null` for log lines.
    pub data: serde_json::Value,
}

/// `GET /api/plugins/{id}/logs` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogsResponse {
    /// Messages, oldest first.
    pub messages: Vec<LogMessage>,
}
