//! `GET /api/audit`: the audit log with filters and paging, and the layer
//! that writes an audit row for every denied request.

use std::net::SocketAddr;
use std::str::FromStr;

use axum::Json;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::Denied;
use super::{ApiError, DEV_API_PREFIX};
use crate::auth::{self, Caller};
use crate::state::AppState;
use crate::store::UnknownValue;
use crate::store::audit::{AuditAction, AuditEntry, AuditFilter, AuditResult};

/// Query of `GET /api/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this plugin.
    pub plugin_id: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    #[param(value_type = Option<AuditAction>, inline)]
    pub action: Option<String>,
    /// Only this result.
    #[param(value_type = Option<AuditResult>, inline)]
    pub result: Option<String>,
    /// Rows at or after (epoch ms).
    pub since: Option<i64>,
    /// Rows before (epoch ms).
    pub until: Option<i64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// Answer of `GET /api/audit`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Rows, newest first.
    pub entries: Vec<AuditEntry>,
    /// Offset of the next page, when there may be one.
    pub next_offset: Option<i64>,
}

/// Marks a response whose handler already wrote its audit row, so that
/// [`audit_denials`] does not write a second one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Audited;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The audit log.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    description = "Permission: `audit:read`. Audit rows (dev actions, rollbacks, uninstalls, \
        logins, denied attempts), newest first, filtered and paged; `next_offset` is set when \
        another page may follow. An unknown `action` or `result` is a 400.",
    security(("bearer" = []), ("session" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "one page of rows", body = AuditPage),
        (status = 400, description = "an unknown action or result", body = px_api::ErrorBody),
        Denied,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require("audit:read")?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0).max(0);
    let filter = AuditFilter {
        action: known(q.action.as_deref())?,
        result: known(q.result.as_deref())?,
        plugin_id: q.plugin_id,
        actor: q.actor,
        since: q.since,
        until: q.until,
        limit,
        offset,
    };
    let entries = state.store.audit(&filter).await?;
    let next_offset = (entries.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(AuditPage {
        entries,
        next_offset,
    }))
}

/// A filter naming one of a closed set; 400 for a value no row can have.
fn known<T: FromStr<Err = UnknownValue>>(text: Option<&str>) -> Result<Option<T>, ApiError> {
    text.map(str::parse)
        .transpose()
        .map_err(|e: UnknownValue| ApiError::bad_request(e.to_string()))
}

/// Writes an audit row for every 403, and for every 401 on the dev API.
pub(super) async fn audit_denials(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // a plugin's own answers through the proxy are the plugin's business
    // (checked first: the proxy path is hot, it pays for nothing here)
    if is_plugin_api(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let path = uri.path();
    let on_dev_api = path.starts_with(DEV_API_PREFIX);
    let audited = response.extensions().get::<Audited>().is_some();
    if !audited && (status == 403 || (status == 401 && on_dev_api)) {
        let actor = match auth::caller_for_headers(&state, &headers).await {
            Ok(Some(caller)) => caller.actor,
            _ => "anonymous".to_owned(),
        };
        let entry = AuditEntry {
            plugin_id: plugin_id_of(path, uri.query()),
            reason: Some(format!("{status} {method} {path}")),
            remote_addr: remote,
            ..AuditEntry::new(actor, AuditAction::Denied, AuditResult::Denied)
        };
        crate::audit::write(&state.store, entry).await;
    }
    response
}

/// `/_p/{id}/api…`: answered by the plugin, not by Core.
fn is_plugin_api(path: &str) -> bool {
    path.strip_prefix("/_p/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, below)| below == "api" || below.starts_with("api/"))
}

/// The plugin a request is about, when its path or query names one.
fn plugin_id_of(path: &str, query: Option<&str>) -> Option<String> {
    let from_query = query.and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "plugin_id")
            .map(|(_, v)| v.to_owned())
    });
    let from_path = path
        .strip_prefix("/api/plugins/")
        .or_else(|| path.strip_prefix("/_p/"))
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty() && *id != "dev")
        .map(str::to_owned);
    from_query.or(from_path)
}

#[cfg(test)]
mod tests {
    use super::plugin_id_of;

    #[test]
    fn plugin_answers_are_not_core_denials() {
        assert!(super::is_plugin_api("/_p/com.a.b/api"));
        assert!(super::is_plugin_api("/_p/com.a.b/api/x/y"));
        assert!(!super::is_plugin_api("/_p/com.a.b/admin/"));
        assert!(!super::is_plugin_api("/api/plugins/com.a.b"));
    }

    #[test]
    fn finds_the_plugin_in_path_or_query() {
        assert_eq!(
            plugin_id_of("/api/plugins/com.a.b/rollback", None).as_deref(),
            Some("com.a.b")
        );
        assert_eq!(
            plugin_id_of("/api/plugins/dev/install", Some("plugin_id=com.x.y")).as_deref(),
            Some("com.x.y")
        );
        assert_eq!(plugin_id_of("/api/plugins/dev/install", None), None);
        assert_eq!(
            plugin_id_of("/_p/com.a.b/admin/", None).as_deref(),
            Some("com.a.b")
        );
    }
}
