//! Wire types shared by PowerX Core, the `px-plugin` CLI and Admin: REST
//! request and response bodies, the install report, the error body and the
//! `plugin.dev.logs` WebSocket messages (SPEC §3.2, §3.4).
//!
//! Plain serde data only: no I/O, no HTTP client or server code. Field names
//! are the contract on the wire; change them only together with the SPEC.

mod events;
mod install;
mod lifecycle;
mod plugins;
mod ws;

pub use events::*;
pub use install::*;
pub use lifecycle::*;
pub use plugins::*;
pub use ws::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Media type of a `.pxp` upload to `POST /api/plugins/dev/install`.
pub const PXP_CONTENT_TYPE: &str = "application/vnd.powerx.pxp";

/// Every error answer: `{"error":{"code","message","details"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `not_found`, `unauthorized`, `manifest_invalid`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Extra structured facts (e.g. manifest diagnostics).
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

impl ErrorBody {
    /// Builds an error body without details.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                details: Vec::new(),
            },
        }
    }
}

/// `GET /healthz` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `"ok"` when Core answers.
    pub status: String,
    /// Core version.
    pub version: String,
    /// Whether the dev API is enabled.
    pub dev_mode: bool,
}
