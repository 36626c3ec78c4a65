//! Plugin routes (SPEC §3.2): the dev install API, the plugin registry views,
//! rollback and recent logs.
//!
//! Install, reload and rollback answer an [`px_api::InstallReport`] with the
//! status of SPEC §3.2: 200 live; 400 bad request (including a directory
//! outside `dev.allowed_dirs`), 409 conflict, 413 too large, 422 invalid
//! manifest or bundle; 502 rolled back. Other errors use the JSON error body.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use px_api::{InstallRequest, InstallSource, RollbackRequest, UninstallRequest};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Asked};
use crate::auth::Caller;
use crate::event_log::{MAX_TAIL, ReadQuery};
use crate::http::ApiError;
use crate::http::openapi::Denied;
use crate::plugins::{FailureKind, InstallOutcome, Source};
use crate::state::AppState;

/// Largest JSON body accepted by these routes.
const MAX_JSON_BYTES: usize = 1 << 20;
/// Lines returned by the logs route without `?tail=`.
const DEFAULT_TAIL: usize = 200;

/// The plugin routes, merged into Core's router.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(install, uninstall))
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(rollback))
        .routes(routes!(logs))
}

/// The install report with its status; already audited by [`audit::record_report`].
fn answer(outcome: InstallOutcome) -> Response {
    let status = outcome.failure.map_or(StatusCode::OK, status_of);
    let mut response = (status, Json(outcome.report)).into_response();
    response.extensions_mut().insert(super::audit::Audited);
    response
}

/// The status an install that failed this way answers (SPEC §3.2).
fn status_of(kind: FailureKind) -> StatusCode {
    match kind {
        FailureKind::BadRequest => StatusCode::BAD_REQUEST,
        FailureKind::Forbidden => StatusCode::FORBIDDEN,
        FailureKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        FailureKind::Conflict => StatusCode::CONFLICT,
        FailureKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        FailureKind::Failed => StatusCode::BAD_GATEWAY,
        FailureKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Install or hot-reload a plugin.
#[utoipa::path(
    post,
    path = "/api/plugins/dev/install",
    tag = "dev",
    description = "Permission: `plugin:dev`. Installs a plugin, or hot-reloads it when it is \
        installed, and answers when the new revision is live or has failed. The body is either \
        JSON naming a `dist/` directory on Core's filesystem (under the policy's \
        `dev.allowed_dirs`), the raw `.pxp` bytes, or a PowerX `package.tar.gz` (gzip tar \
        whose top folder `payload/` holds `plugin.yaml`) as `application/gzip`. Uploads over `dev.max_bundle_bytes` are \
        refused with 413 before the body is read to the end. 404 when dev mode is off.",
    security(("bearer" = []), ("session" = [])),
    request_body(content(
        (px_api::InstallRequest = "application/json"),
        (super::openapi::PxpBundle = "application/vnd.powerx.pxp"),
        (super::openapi::PxpBundle = "application/gzip"),
    )),
    responses(
        (status = 200, description = "the new revision is live", body = px_api::InstallReport),
        (status = 400, description = "rejected: bad request (e.g. a directory outside dev.allowed_dirs)", body = px_api::InstallReport),
        (status = 403, description = "rejected: the plugin id is not allowed by dev.plugin_ids (an install report), or the caller lacks plugin:dev (an error body); audited either way", body = super::openapi::InstallForbidden),
        (status = 409, description = "rejected: dependency, version or collision conflict", body = px_api::InstallReport),
        (status = 413, description = "rejected: the bundle is larger than dev.max_bundle_bytes", body = px_api::InstallReport),
        (status = 422, description = "rejected: invalid manifest or bundle", body = px_api::InstallReport),
        (status = 502, description = "it failed to start, failed health or crashed in probation, and was rolled back", body = px_api::InstallReport),
        (status = 401, description = "no credential, or an invalid, expired or revoked one", body = px_api::ErrorBody),
        (status = 404, description = "dev mode is off", body = px_api::ErrorBody),
    )
)]
async fn install(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require("plugin:dev")?;
    // the install runs to its end in its own task, even when the client goes
    // away mid-way (e.g. Ctrl-C in `px-plugin dev` during probation)
    let outcome = detached(async move {
        let outcome = install_outcome(&state, &headers, body).await;
        audit::record_report(
            &state,
            &caller.actor,
            peer.ip(),
            Asked::Install,
            &outcome.report,
        )
        .await;
        outcome
    })
    .await?;
    Ok(answer(outcome))
}

/// Runs a state-changing operation in its own task so a client that
/// disconnects cannot cancel it half-way; answers when it is done.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.map_err(ApiError::internal)
}

async fn install_outcome(state: &AppState, headers: &HeaderMap, body: Body) -> InstallOutcome {
    let plugins = &state.plugins;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(format) = upload_format(content_type) {
        let max = state.config.policy.dev.max_bundle_bytes;
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if length.is_some_and(|n| n > max) {
            return plugins.reject(
                FailureKind::TooLarge,
                px_api::ReasonCode::BundleInvalid,
                format!("bundle is larger than {max} bytes"),
            );
        }
        let stream = body.into_data_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        return plugins
            .install(Source::Bundle(format, Box::pin(reader)))
            .await;
    }
    match read_json::<InstallRequest>(body).await {
        Ok(request) => {
            let InstallSource::Dir { path } = request.source;
            plugins.install(Source::Dir(path.into())).await
        }
        Err(message) => plugins.reject(
            FailureKind::BadRequest,
            px_api::ReasonCode::BadRequest,
            message,
        ),
    }
}

/// The archive format an upload's content type names: a `.pxp`, or a
/// PowerX `package.tar.gz` (`application/gzip`, `application/x-gzip`).
fn upload_format(content_type: &str) -> Option<px_bundle::Format> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case(px_api::PXP_CONTENT_TYPE) {
        Some(px_bundle::Format::Pxp)
    } else if media.eq_ignore_ascii_case(px_bundle::PACKAGE_MEDIA_TYPE)
        || media.eq_ignore_ascii_case("application/x-gzip")
    {
        Some(px_bundle::Format::Package)
    } else {
        None
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PluginIdQuery {
    /// Plugin to remove (instead of the JSON body).
    plugin_id: Option<String>,
}

/// Uninstall a plugin.
#[utoipa::path(
    delete,
    path = "/api/plugins/dev/install",
    tag = "dev",
    description = "Permission: `plugin:dev`. Stops the plugin's process and removes its routes, \
        menus, permissions and files. Name it in the JSON body or with `?plugin_id=`. \
        404 when dev mode is off or the plugin is not installed.",
    security(("bearer" = []), ("session" = [])),
    params(PluginIdQuery),
    request_body(content = Option<px_api::UninstallRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "uninstalled", body = px_api::Uninstalled),
        (status = 400, description = "no plugin id given", body = px_api::ErrorBody),
        (status = 404, description = "not installed, or dev mode is off", body = px_api::ErrorBody),
        Denied,
    )
)]
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
    let removed = state.plugins.detail(&id).await?.map(|d| d.summary);
    let plugins = state.plugins.clone();
    let target = id.clone();
    if !detached(async move { plugins.uninstall(&target).await }).await?? {
        return Err(ApiError::not_found(format!("plugin {id} is not installed")));
    }
    audit::record_uninstall(&state, &caller.actor, peer.ip(), &id, removed.as_ref()).await;
    Ok(Json(px_api::Uninstalled {
        plugin_id: id,
        uninstalled: true,
    })
    .into_response())
}

/// Installed plugins.
#[utoipa::path(
    get,
    path = "/api/plugins",
    tag = "plugins",
    description = "Permission: `plugin:read`. Every installed plugin with its state.",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "installed plugins, sorted by id", body = px_api::PluginList), Denied)
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<px_api::PluginList>, ApiError> {
    caller.require("plugin:read")?;
    Ok(Json(state.plugins.list().await?))
}

/// One plugin with its revisions.
#[utoipa::path(
    get,
    path = "/api/plugins/{id}",
    tag = "plugins",
    description = "Permission: `plugin:read`. One plugin with its revisions, stable revision, \
        status and last failure reason.",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "plugin id")),
    responses(
        (status = 200, description = "the plugin", body = px_api::PluginDetail),
        (status = 404, description = "not installed", body = px_api::ErrorBody),
        Denied,
    )
)]
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

/// Back to the stable (or a given) revision.
#[utoipa::path(
    post,
    path = "/api/plugins/{id}/rollback",
    tag = "dev",
    description = "Permission: `plugin:dev`. Brings back the stable revision, or the revision \
        in the optional body, and answers the install report of that swap.",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "plugin id")),
    request_body(content = Option<px_api::RollbackRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "the revision is live again", body = px_api::InstallReport),
        (status = 400, description = "no such revision on disk, or a bad body", body = px_api::InstallReport),
        (status = 502, description = "it failed to start again", body = px_api::InstallReport),
        (status = 404, description = "not installed", body = px_api::ErrorBody),
        Denied,
    )
)]
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
    let outcome = detached(async move {
        let outcome = state.plugins.rollback(&id, request.revision).await;
        if let Some(outcome) = &outcome {
            let report = &outcome.report;
            audit::record_report(&state, &caller.actor, peer.ip(), Asked::Rollback, report).await;
        }
        outcome.ok_or(id)
    })
    .await?;
    match outcome {
        Ok(outcome) => Ok(answer(outcome)),
        Err(id) => Err(ApiError::not_found(format!("plugin {id} is not installed"))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// At most this many of the newest matching messages (default 200, at most 10000).
    tail: Option<usize>,
    /// Only messages at or after this time (epoch ms).
    since: Option<i64>,
    /// Only messages before this time (epoch ms).
    until: Option<i64>,
    /// Only messages of this install.
    install_id: Option<String>,
    /// Only messages with a `seq` greater than this (a cursor from an earlier answer).
    after_seq: Option<u64>,
}

/// Recent log lines and lifecycle events of a plugin.
#[utoipa::path(
    get,
    path = "/api/plugins/{id}/logs",
    tag = "plugins",
    description = "Permission: `plugin:read`. Messages of the `plugin.dev.logs` channel for \
        this plugin, oldest first: the newest `tail` that match. Kept on disk for \
        `audit.retention_days`, also after the plugin is uninstalled and across restarts.",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "plugin id"), LogsQuery),
    responses(
        (status = 200, description = "recent messages", body = px_api::LogsResponse),
        (status = 404, description = "nothing known of this plugin", body = px_api::ErrorBody),
        Denied,
    )
)]
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Json<px_api::LogsResponse>, ApiError> {
    caller.require("plugin:read")?;
    let read = ReadQuery {
        since: query.since,
        until: query.until,
        install_id: query.install_id,
        after_seq: query.after_seq,
        tail: query.tail.unwrap_or(DEFAULT_TAIL).min(MAX_TAIL),
    };
    let messages = state.event_log.read(&id, &read).await?;
    if messages.is_empty()
        && !state.plugins.is_installed(&id)
        && !state.event_log.knows(&id).await?
    {
        return Err(ApiError::not_found(format!("plugin {id} is not installed")));
    }
    Ok(Json(px_api::LogsResponse { messages }))
}
