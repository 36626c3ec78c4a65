//! `ANY /_p/{id}/api/*`: forwarding one request to the plugin's backend.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};

use crate::auth;
use crate::http::ApiError;
use crate::plugins::{Backend, BackendGuard, RouteMiss};
use crate::state::AppState;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
/// Caller headers Core never passes to a plugin: credentials, and identity
/// headers only Core may set. A name matches whatever its case and with `_`
/// for `-` (`X_PX_User`): servers behind CGI/WSGI read both as one header.
const STRIPPED: [&str; 5] = [
    "authorization",
    "cookie",
    "x-px-user",
    "x-px-permissions",
    "host",
];

/// When the caller is signed in (token or Admin session), tells the plugin who
/// it is: `X-PX-User` and `X-PX-Permissions` (comma-separated); the caller is
/// returned for its gateway token ([`add_token`]). The caller's own such
/// headers were already stripped; its credentials are never forwarded.
async fn add_identity(
    state: &AppState,
    incoming: &HeaderMap,
    upstream: &mut HeaderMap,
) -> Result<Option<auth::Caller>, ApiError> {
    if auth::bearer(incoming).is_none() && auth::session_cookie(incoming).is_none() {
        return Ok(None);
    }
    let Some(caller) = auth::caller_for_headers(state, incoming).await? else {
        return Ok(None);
    };
    let user = HeaderValue::from_str(&caller.actor);
    let permissions = HeaderValue::from_str(&caller.permissions.join(","));
    if let (Ok(user), Ok(permissions)) = (user, permissions) {
        upstream.insert(HeaderName::from_static("x-px-user"), user);
        upstream.insert(HeaderName::from_static("x-px-permissions"), permissions);
    }
    Ok(Some(caller))
}

/// `Authorization: Bearer <JWT>` for `caller`, signed with the secret of the
/// plugin behind `backend` (claims as PowerX's gateway mints them).
fn add_token(upstream: &mut HeaderMap, backend: &Backend, caller: &auth::Caller) {
    let token = match backend.gateway.mint(caller) {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(plugin = %backend.plugin_id, %error, "cannot sign the gateway token");
            return;
        }
    };
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        upstream.insert(header::AUTHORIZATION, value);
    }
}

/// OpenAPI description shared by the proxy routes.
const PROXY_DOC: &str = "Permission: none from Core; the plugin decides. Reverse proxy to the \
        plugin's `http_base_path` (any method; bodies stream both ways); a path that already \
        starts with the base path, or with its version part after `/api`, is not doubled. The caller's \
        `Authorization` and cookies are not forwarded; when the caller is signed in, Core adds \
        `X-PX-User`, `X-PX-Permissions` and `Authorization: Bearer <JWT>` signed HS256 with the \
        plugin's own `POWERX_SECURITY_JWT_SECRET` (stripping any such headers the caller sent, \
        whatever their spelling, `X_PX_User` included). \
        Requests in flight during a hot reload finish on the old revision.";

/// The plugin's API root.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/_p/{id}/api",
    params(("id" = String, Path, description = "plugin id")),
    tag = "proxy",
    description = PROXY_DOC,
    security(()),
    responses(
        (status = "default", description = "the plugin's own answer"),
        (status = 404, description = "no such plugin, or a static plugin", body = px_api::ErrorBody),
        (status = 502, description = "the plugin's backend failed", body = px_api::ErrorBody),
        (status = 503, description = "the plugin has no running backend", body = px_api::ErrorBody),
    )
)]
pub(super) async fn root(
    state: State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    forward(state, id, request).await
}

/// The plugin's API root, with a trailing slash.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/_p/{id}/api/",
    params(("id" = String, Path, description = "plugin id")),
    tag = "proxy",
    description = PROXY_DOC,
    security(()),
    responses(
        (status = "default", description = "the plugin's own answer"),
        (status = 404, description = "no such plugin, or a static plugin", body = px_api::ErrorBody),
        (status = 502, description = "the plugin's backend failed", body = px_api::ErrorBody),
        (status = 503, description = "the plugin has no running backend", body = px_api::ErrorBody),
    )
)]
pub(super) async fn root_slash(
    state: State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    forward(state, id, request).await
}

/// A path below the plugin's API root.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/_p/{id}/api/{*rest}",
    params(
        ("id" = String, Path, description = "plugin id"),
        ("rest" = String, Path, description = "the rest of the path, slashes included"),
    ),
    tag = "proxy",
    description = PROXY_DOC,
    security(()),
    responses(
        (status = "default", description = "the plugin's own answer"),
        (status = 404, description = "no such plugin, or a static plugin", body = px_api::ErrorBody),
        (status = 502, description = "the plugin's backend failed", body = px_api::ErrorBody),
        (status = 503, description = "the plugin has no running backend", body = px_api::ErrorBody),
    )
)]
pub(super) async fn rest(
    state: State<AppState>,
    Path((id, _rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward(state, id, request).await
}

/// Which process of the plugin's current revision a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upstream {
    /// `/_p/{id}/api/*` → the backend, below its `http_base_path`.
    Api,
    /// `/_p/{id}/admin/*` → the admin process, at the full path (PowerX
    /// builds admin servers with `/_p/<id>/admin/` as their base URL).
    Admin,
}

async fn forward(state: State<AppState>, id: String, request: Request) -> Response {
    to_plugin(state, id, request, Upstream::Api).await
}

/// Forwards one request to the plugin's backend or admin process.
pub(super) async fn to_plugin(
    State(state): State<AppState>,
    id: String,
    request: Request,
    to: Upstream,
) -> Response {
    let (parts, body) = request.into_parts();
    let prefix = match to {
        Upstream::Api => format!("/_p/{id}/api"),
        Upstream::Admin => format!("/_p/{id}/admin"),
    };
    // the raw, still percent-encoded path below the prefix
    let below = parts
        .uri
        .path()
        .strip_prefix(prefix.as_str())
        .unwrap_or_default()
        .to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut headers = upstream_headers(&parts.headers, peer, &prefix);
    let caller = match add_identity(&state, &parts.headers, &mut headers).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    // a request without a body can be sent again if the connection is refused
    let bodyless = !parts.headers.contains_key(header::CONTENT_LENGTH)
        && !parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0");
    let mut body = Some(body);
    for attempt in 0..2 {
        let guard = match state.plugins.acquire(&id) {
            Ok(guard) => guard,
            Err(RouteMiss::Unknown) => {
                return ApiError::not_found(format!("plugin {id} is not installed"))
                    .into_response();
            }
            Err(RouteMiss::NoBackend) => return unavailable(&id),
        };
        let backend = guard.backend();
        let port = match to {
            Upstream::Api => backend.port,
            Upstream::Admin => backend.admin_port,
        };
        let Some(port) = port else {
            return match to {
                Upstream::Api => {
                    ApiError::not_found(format!("plugin {id} is static and has no API"))
                        .into_response()
                }
                Upstream::Admin => unavailable(&id),
            };
        };
        let path = match to {
            Upstream::Api => api_path(&backend.base_path, &below),
            Upstream::Admin => admin_path(&prefix, &below),
        };
        let uri = match query.as_deref() {
            Some(q) => format!("http://127.0.0.1:{port}{path}?{q}"),
            None => format!("http://127.0.0.1:{port}{path}"),
        };
        let Ok(uri) = uri.parse::<Uri>() else {
            return ApiError::bad_request("cannot build the upstream URL").into_response();
        };
        let mut upstream = axum::http::Request::new(body.take().unwrap_or_default());
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = uri;
        *upstream.headers_mut() = headers.clone();
        if let Some(caller) = &caller {
            add_token(upstream.headers_mut(), backend, caller);
        }
        match state.plugins.client().request(upstream).await {
            Ok(response) => return downstream(response, guard),
            Err(error) if error.is_connect() && bodyless && attempt == 0 => {
                tracing::debug!(plugin = %id, %error, "backend refused the connection; retrying on the current one");
                body = Some(Body::empty());
            }
            Err(error) => {
                tracing::warn!(plugin = %id, %error, "proxying to the plugin failed");
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    format!("plugin {id} did not answer: {error}"),
                )
                .into_response();
            }
        }
    }
    unavailable(&id)
}

fn unavailable(id: &str) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "plugin_unavailable",
        format!("plugin {id} has no running revision"),
    )
    .into_response()
}

/// The backend's path for `/_p/{id}/api<below>` (`below` raw, starting with
/// `/` or empty): `below` under the `http_base_path` `base`, except that a
/// `below` that already starts with the base, or with its version part
/// after `/api` (PowerX admin UIs call `/_p/<id>/api/v1/…` for `/api/v1`),
/// is not doubled. Prefixes match whole segments: `/v10` is not `/v1`.
fn api_path(base: &str, below: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    if trimmed.is_empty() {
        return join(base, below);
    }
    let version = trimmed.strip_prefix("/api").filter(|v| v.starts_with('/'));
    let tail = [Some(trimmed), version]
        .into_iter()
        .flatten()
        .find_map(|prefix| below_segments(below, prefix));
    match tail {
        Some(tail) => format!("{trimmed}{tail}"),
        None => join(base, below),
    }
}

/// What follows `prefix` in `path` when `path` starts with its whole segments.
fn below_segments<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let tail = path.strip_prefix(prefix)?;
    (tail.is_empty() || tail.starts_with('/')).then_some(tail)
}

/// The admin process's path for `<prefix><below>`: the full path, as PowerX
/// forwards it (the bare prefix as `<prefix>/`, the base URL it was built for).
fn admin_path(prefix: &str, below: &str) -> String {
    if below.is_empty() {
        format!("{prefix}/")
    } else {
        format!("{prefix}{below}")
    }
}

/// `base` joined with the raw rest of the path (which starts with `/` or is empty).
fn join(base: &str, below: &str) -> String {
    let below = below.trim_start_matches('/');
    if base.ends_with('/') {
        format!("{base}{below}")
    } else if below.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{below}")
    }
}

fn upstream_headers(incoming: &HeaderMap, peer: Option<SocketAddr>, prefix: &str) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    let spoofs: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str().replace('_', "-");
            STRIPPED.contains(&name.to_ascii_lowercase().as_str())
        })
        .cloned()
        .collect();
    for name in spoofs {
        headers.remove(name);
    }
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    if let Some(peer) = peer {
        let ip = peer.ip().to_string();
        let value = match incoming
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(earlier) => format!("{earlier}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    if let Ok(value) = HeaderValue::from_str(prefix) {
        headers.insert(HeaderName::from_static("x-forwarded-prefix"), value);
    }
    headers
}

/// Removes hop-by-hop headers, including those named by `Connection`.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in listed.iter().map(String::as_str).chain(HOP_BY_HOP) {
        headers.remove(name);
    }
}

fn downstream(response: hyper::Response<Incoming>, guard: BackendGuard) -> Response {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(
        parts,
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        }),
    )
}

/// A response body that keeps its backend counted as busy until it ends.
struct Guarded {
    inner: Incoming,
    _guard: BackendGuard,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_paths() {
        assert_eq!(join("/", "/hello"), "/hello");
        assert_eq!(join("/", ""), "/");
        assert_eq!(join("/api", "/x/y"), "/api/x/y");
        assert_eq!(join("/api/", "/x"), "/api/x");
        assert_eq!(join("/api", ""), "/api");
    }

    #[test]
    fn api_paths_do_not_double_the_base() {
        let base = "/api/v1";
        assert_eq!(api_path(base, "/v1/notes"), "/api/v1/notes");
        assert_eq!(api_path(base, "/notes"), "/api/v1/notes");
        assert_eq!(api_path(base, "/api/v1/notes"), "/api/v1/notes");
        assert_eq!(api_path(base, "/v1"), "/api/v1");
        assert_eq!(api_path(base, "/v1/"), "/api/v1/");
        assert_eq!(api_path(base, "/api/v1"), "/api/v1");
        assert_eq!(api_path(base, ""), "/api/v1");
        assert_eq!(api_path("/api/v1/", "/v1/notes"), "/api/v1/notes");
        // whole segments only
        assert_eq!(api_path(base, "/v10/notes"), "/api/v1/v10/notes");
        assert_eq!(api_path(base, "/api/v10"), "/api/v1/api/v10");
        assert_eq!(api_path(base, "/api/notes"), "/api/v1/api/notes");
        // a base without `/api` is de-duplicated whole; `/api` alone has no version part
        assert_eq!(api_path("/v1", "/v1/notes"), "/v1/notes");
        assert_eq!(api_path("/api", "/api/notes"), "/api/notes");
        assert_eq!(api_path("/api", "/notes"), "/api/notes");
        assert_eq!(api_path("/apix/v1", "/x/v1"), "/apix/v1/x/v1");
        // the root base is a plain join
        assert_eq!(api_path("/", "/v1/notes"), "/v1/notes");
        assert_eq!(api_path("/", "/api/notes"), "/api/notes");
        assert_eq!(api_path("/", ""), "/");
    }

    #[test]
    fn admin_paths_keep_the_prefix() {
        let prefix = "/_p/a.b/admin";
        assert_eq!(admin_path(prefix, ""), "/_p/a.b/admin/");
        assert_eq!(admin_path(prefix, "/"), "/_p/a.b/admin/");
        assert_eq!(
            admin_path(prefix, "/_nuxt/app.js"),
            "/_p/a.b/admin/_nuxt/app.js"
        );
    }

    #[test]
    fn strips_credentials_and_hop_by_hop() {
        let mut incoming = HeaderMap::new();
        incoming.insert("authorization", HeaderValue::from_static("Bearer x"));
        incoming.insert("cookie", HeaderValue::from_static("s=1"));
        incoming.insert("x-px-user", HeaderValue::from_static("root"));
        incoming.insert("x_px_user", HeaderValue::from_static("root"));
        incoming.insert("x_px_permissions", HeaderValue::from_static("*"));
        incoming.insert("x-px_user", HeaderValue::from_static("root"));
        incoming.insert("authori_zation", HeaderValue::from_static("keep"));
        incoming.insert("x-px-user-agent", HeaderValue::from_static("keep"));
        incoming.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        incoming.insert("x-secret", HeaderValue::from_static("1"));
        incoming.insert("host", HeaderValue::from_static("core:8077"));
        incoming.insert("accept", HeaderValue::from_static("*/*"));
        let out = upstream_headers(
            &incoming,
            Some("10.0.0.1:5".parse().unwrap()),
            "/_p/a.b/api",
        );
        for gone in [
            "authorization",
            "cookie",
            "x-px-user",
            "x_px_user",
            "x_px_permissions",
            "x-px_user",
            "connection",
            "x-secret",
            "host",
        ] {
            assert!(!out.contains_key(gone), "{gone} was forwarded");
        }
        assert_eq!(out["accept"], "*/*");
        assert_eq!(out["authori_zation"], "keep", "only `_` for `-`");
        assert_eq!(out["x-px-user-agent"], "keep");
        assert_eq!(out["x-forwarded-host"], "core:8077");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1");
        assert_eq!(out["x-forwarded-prefix"], "/_p/a.b/api");
    }
}
