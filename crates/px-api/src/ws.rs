//! The `GET /api/ws` protocol (SPEC §3.4): what a client sends, and the
//! control messages Core sends besides the [`LogMessage`]s themselves.
//!
//! Every frame is one JSON text message. Client frames carry an `op`; server
//! frames are either a [`LogMessage`] (no `op`) or a [`ServerControl`] (with
//! an `op`). [`ServerMessage`] parses either.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::LogMessage;

/// `plugin_id` of a subscription to every plugin.
pub const ALL_PLUGINS: &str = "*";

/// A frame the client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientOp {
    /// Start receiving a channel's messages for one plugin or for [`ALL_PLUGINS`].
    Subscribe {
        /// Channel name; only [`crate::LOGS_CHANNEL`] exists.
        channel: String,
        /// A plugin id, or `*` for every plugin.
        plugin_id: String,
        /// Also send the buffered messages with `seq` greater than this
        /// (`0` = everything still buffered); absent = live messages only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Stop receiving what an earlier `subscribe` with the same channel and plugin asked for.
    Unsubscribe {
        /// Channel name.
        channel: String,
        /// The plugin id (or `*`) given to `subscribe`.
        plugin_id: String,
    },
}

/// A control frame Core sends (as opposed to a [`LogMessage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ServerControl {
    /// The subscription is active. Backfilled messages (when `since` was
    /// given) follow this frame, then live ones.
    Subscribed {
        /// Channel name.
        channel: String,
        /// Plugin id or `*`.
        plugin_id: String,
        /// The last `seq` Core had handed out when the subscription started.
        last_seq: u64,
    },
    /// The subscription is gone.
    Unsubscribed {
        /// Channel name.
        channel: String,
        /// Plugin id or `*`.
        plugin_id: String,
    },
    /// This client fell behind and `count` messages were dropped for it (counted
    /// before filtering, so at most `count` of them matched its subscriptions).
    Missed {
        /// How many messages were dropped.
        count: u64,
    },
    /// A frame was refused (bad JSON, unknown channel, missing permission);
    /// the connection stays open.
    Error {
        /// Stable snake_case code: `bad_request`, `unknown_channel`, `forbidden`.
        code: String,
        /// Human-readable explanation.
        message: String,
        /// Channel of the refused subscription, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
        /// Plugin id of the refused subscription, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin_id: Option<String>,
    },
}

/// Any frame Core sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ServerMessage {
    /// A control frame (it has an `op`).
    Control(ServerControl),
    /// A log line or lifecycle event.
    Log(Box<LogMessage>),
}

/// `GET /api/me` answer: who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// User name, or `plugin:<id>` for a plugin token.
    pub actor: String,
    /// Effective permission keys (`*` = all).
    pub permissions: Vec<String>,
    /// Set when the caller is a plugin's own token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_id: Option<String>,
    /// Core's version (what a plugin's `requires.powerx` is matched against).
    #[serde(default)]
    pub core_version: String,
    /// The PowerX version Core declares it is compatible with (what a
    /// plugin's `requires.corex`, `plugin.yaml`'s `corex_version`, is
    /// matched against).
    #[serde(default)]
    pub powerx_compat_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ops_read_the_spec_shape() {
        let op: ClientOp = serde_json::from_str(
            r#"{"op":"subscribe","channel":"plugin.dev.logs","plugin_id":"*","since":5}"#,
        )
        .unwrap();
        assert_eq!(
            op,
            ClientOp::Subscribe {
                channel: "plugin.dev.logs".into(),
                plugin_id: "*".into(),
                since: Some(5)
            }
        );
        let op: ClientOp =
            serde_json::from_str(r#"{"op":"subscribe","channel":"c","plugin_id":"a.b"}"#).unwrap();
        assert!(matches!(op, ClientOp::Subscribe { since: None, .. }));
    }

    #[test]
    fn server_frames_parse_as_control_or_log() {
        let missed = serde_json::to_string(&ServerControl::Missed { count: 3 }).unwrap();
        assert_eq!(missed, r#"{"op":"missed","count":3}"#);
        let parsed: ServerMessage = serde_json::from_str(&missed).unwrap();
        assert_eq!(
            parsed,
            ServerMessage::Control(ServerControl::Missed { count: 3 })
        );
        let log = r#"{"channel":"plugin.dev.logs","seq":1,"ts":0,"plugin_id":"a.b","revision":1,
            "install_id":null,"kind":"log","stream":"stdout","level":"info","message":"hi",
            "phase":null,"data":null}"#;
        let ServerMessage::Log(log) = serde_json::from_str(log).unwrap() else {
            panic!("a log line parsed as control")
        };
        assert_eq!(log.message, "hi");
    }
}
