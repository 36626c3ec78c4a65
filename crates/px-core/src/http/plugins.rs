//! Plugin routes (SPEC §3.2): the dev install API, the plugin registry views,
//! rollback and recent logs.
//!
//! Install, reload and rollback answer an [`px_api::InstallReport`] with the
//! status of SPEC §3.2: 200 live; 400 bad request (including a directory
//! outside `dev.allowed_dirs`), 409 conflict, 413 too large, 422 invalid
//! manifest or bundle; 502 rolled back. Other errors use the JSON error body.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use px_api::{InstallRequest, InstallSource, RollbackRequest, UninstallRequest};
use serde::Deserialize;

use crate::auth::Caller;
use crate::events::RING_CAPACITY;
use crate::http::ApiError;
use crate::plugins::{InstallOutcome, Source};
use crate::state::AppState;
use crate::store::audit::AuditEntry;

/// Largest JSON body accepted by these routes.
const MAX_JSON_BYTES: usize = 1 << 20;
/// Lines returned by the logs route without `?tail=`.
const DEFAULT_TAIL: usize = 200;

/// The plugin routes, merged into Core's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/plugins/dev/install", post(install).delete(uninstall))
        .route("/api/plugins", get(list))
        .route("/api/plugins/{id}", get(detail))
        .route("/api/plugins/{id}/rollback", post(rollback))
        .route("/api/plugins/{id}/logs", get(logs))
}

fn answer(outcome: InstallOutcome) -> Response {
    (outcome.status, Json(outcome.report)).into_response()
}

/// Records an install, reload or rollback: metrics and an audit row.
async fn record(
    state: &AppState,
    caller: &Caller,
    peer: SocketAddr,
    action: &str,
    outcome: &InstallOutcome,
) {
    let report = &outcome.report;
    let success = report.status == px_api::InstallStatus::Active;
    if action != "rollback" {
        state
            .metrics
            .install_finished(success, Duration::from_millis(report.duration_ms));
    }
    if report.status == px_api::InstallStatus::RolledBack || action == "rollback" && success {
        state.metrics.rolled_back();
    }
    let action = match (action, report.revision) {
        ("install", Some(revision)) if revision > 1 => "reload",
        (action, _) => action,
    };
    let entry = AuditEntry {
        actor: caller.actor.clone(),
        action: action.to_owned(),
        plugin_id: Some(report.plugin_id.clone()).filter(|id| !id.is_empty()),
        version: Some(report.version.clone()).filter(|v| !v.is_empty()),
        revision: report.revision.and_then(|r| i64::try_from(r).ok()),
        install_id: Some(report.install_id.clone()),
        result: if success { "success" } else { "failure" }.to_owned(),
        reason: report
            .reason
            .as_ref()
            .map(|r| format!("{}: {}", r.code.as_str(), r.message)),
        remote_addr: Some(peer.to_string()),
        ..AuditEntry::default()
    };
    if let Err(error) = state.store.audit_insert(entry).await {
        tracing::error!("cannot write audit row: {error:#}");
    }
}

async fn install(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require("plugin:dev")?;
    let outcome = install_outcome(&state, &headers, body).await;
    record(&state, &caller, peer, "install", &outcome).await;
    Ok(answer(outcome))
}

async fn install_outcome(state: &AppState, headers: &HeaderMap, body: Body) -> InstallOutcome {
    let plugins = &state.plugins;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with(px_api::PXP_CONTENT_TYPE) {
        let max = state.config.policy.dev.max_bundle_bytes;
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if length.is_some_and(|n| n > max) {
            return plugins.reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                px_api::ReasonCode::BundleInvalid,
                format!("bundle is larger than {max} bytes"),
            );
        }
        let stream = body.into_data_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        return plugins.install(Source::Bundle(Box::pin(reader))).await;
    }
    match read_json::<InstallRequest>(body).await {
        Ok(request) => {
            let InstallSource::Dir { path } = request.source;
            plugins.install(Source::Dir(path.into())).await
        }
        Err(message) => plugins.reject(
            StatusCode::BAD_REQUEST,
            px_api::ReasonCode::BadRequest,
            message,
        ),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, String> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|e| format!("cannot read the request body: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "expected JSON {{\"source\":{{\"kind\":\"dir\",\"path\":…}}}} or a {} body: {e}",
            px_api::PXP_CONTENT_TYPE
        )
    })
}

#[derive(Debug, Deserialize)]
struct PluginIdQuery {
    plugin_id: Option<String>,
}

async fn uninstall(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Query(query): Query<PluginIdQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require("plugin:dev")?;
    let id = match query.plugin_id {
        Some(id) => id,
        None => {
            read_json::<UninstallRequest>(body)
                .await
                .map_err(|_| ApiError::bad_request("send {\"plugin_id\":\"…\"} or ?plugin_id="))?
                .plugin_id
        }
    };
    if !state.plugins.uninstall(&id).await? {
        return Err(ApiError::not_found(format!("plugin {id} is not installed")));
    }
    let entry = AuditEntry {
        actor: caller.actor.clone(),
        action: "uninstall".to_owned(),
        plugin_id: Some(id.clone()),
        result: "success".to_owned(),
        remote_addr: Some(peer.to_string()),
        ..AuditEntry::default()
    };
    if let Err(error) = state.store.audit_insert(entry).await {
        tracing::error!("cannot write audit row: {error:#}");
    }
    Ok(Json(serde_json::json!({ "plugin_id": id, "uninstalled": true })).into_response())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<px_api::PluginList>, ApiError> {
    caller.require("plugin:read")?;
    Ok(Json(state.plugins.list().await?))
}

async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<px_api::PluginDetail>, ApiError> {
    caller.require("plugin:read")?;
    match state.plugins.detail(&id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::not_found(format!("plugin {id} is not installed"))),
    }
}

async fn rollback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require("plugin:dev")?;
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
    let request: RollbackRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("expected {{\"revision\":N}}: {e}")))?
    };
    match state.plugins.rollback(&id, request.revision).await {
        Some(outcome) => {
            record(&state, &caller, peer, "rollback", &outcome).await;
            Ok(answer(outcome))
        }
        None => Err(ApiError::not_found(format!("plugin {id} is not installed"))),
    }
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    tail: Option<usize>,
    since: Option<u64>,
}

async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Json<px_api::LogsResponse>, ApiError> {
    caller.require("plugin:read")?;
    let tail = query.tail.unwrap_or(DEFAULT_TAIL).min(RING_CAPACITY);
    match state.plugins.logs(&id, tail, query.since) {
        Some(logs) => Ok(Json(logs)),
        None => Err(ApiError::not_found(format!("plugin {id} is not installed"))),
    }
}
