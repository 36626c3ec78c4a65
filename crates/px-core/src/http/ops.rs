//! Operations endpoints: `GET /healthz`, `GET /metrics` (Prometheus text) and
//! `GET /api/alerts`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::openapi::Denied;
use crate::auth::Caller;
use crate::metrics::Alert;
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(alerts))
}

/// Core liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    description = "Permission: none. Answers while Core runs.",
    security(()),
    responses((status = 200, description = "Core is up", body = px_api::Health))
)]
async fn healthz(State(state): State<AppState>) -> Json<px_api::Health> {
    Json(px_api::Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        dev_mode: state.config.dev,
    })
}

/// The Prometheus exposition of this Core.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    description = "Permission: none. Prometheus text format: \
        `plugin_dev_install_duration_seconds`, `plugin_dev_install_total`, \
        `plugin_dev_install_success_rate`, `plugin_dev_rollback_total`, \
        `plugin_dev_install_consecutive_failures`.",
    security(()),
    responses((status = 200, description = "Prometheus text exposition", body = String,
        content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// The dev-loop alerts (the same rules as `deploy/prometheus/alerts.yml`).
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "ops",
    description = "Permission: `plugin:read`. Alert state of the dev loop, as Admin shows it.",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "every alert with its state", body = Vec<Alert>), Denied)
)]
async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Alert>>, ApiError> {
    caller.require("plugin:read")?;
    Ok(Json(state.metrics.alerts()))
}
