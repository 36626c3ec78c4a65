//! Operations endpoints: `GET /metrics` (Prometheus text) and `GET /api/alerts`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiError;
use crate::auth::Caller;
use crate::metrics::Alert;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/alerts", get(alerts))
}

/// The Prometheus exposition of this Core.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Alert>>, ApiError> {
    caller.require("plugin:read")?;
    Ok(Json(state.metrics.alerts()))
}
