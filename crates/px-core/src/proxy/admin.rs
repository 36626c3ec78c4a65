//! `GET /_p/{id}/admin/*`: the current revision's admin process, when it
//! has one and it is serving, else its `admin.static_dir`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::forward::Upstream;
use crate::auth::Caller;
use crate::http::ApiError;
use crate::http::openapi::Denied;
use crate::plugins::AdminPages;
use crate::state::AppState;

/// OpenAPI description shared by the three admin routes.
const ADMIN_DOC: &str = "Permission: `plugin:read`. The running revision's admin process \
    (`admin.process`, forwarded below `/` like the API, with `X-PX-User`), or, when it has none \
    or it is down, the files of its `admin.static_dir` (`index.html` for a directory).";

/// The plugin's Admin pages: the index.
#[utoipa::path(
    get,
    path = "/_p/{id}/admin",
    params(("id" = String, Path, description = "plugin id")),
    tag = "proxy",
    description = ADMIN_DOC,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the file"),
        (status = 404, description = "no such plugin, no admin pages, or no such file", body = px_api::ErrorBody),
        Denied,
    )
)]
pub(super) async fn root(
    state: State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, caller, id, String::new(), request).await
}

/// The plugin's Admin pages: the index, with a trailing slash.
#[utoipa::path(
    get,
    path = "/_p/{id}/admin/",
    params(("id" = String, Path, description = "plugin id")),
    tag = "proxy",
    description = ADMIN_DOC,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the file"),
        (status = 404, description = "no such plugin, no admin pages, or no such file", body = px_api::ErrorBody),
        Denied,
    )
)]
pub(super) async fn root_slash(
    state: State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, caller, id, String::new(), request).await
}

/// One file of the plugin's Admin pages.
#[utoipa::path(
    get,
    path = "/_p/{id}/admin/{*path}",
    params(
        ("id" = String, Path, description = "plugin id"),
        ("path" = String, Path, description = "file below `admin.static_dir`"),
    ),
    tag = "proxy",
    description = ADMIN_DOC,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "the file"),
        (status = 404, description = "no such plugin, no admin pages, or no such file", body = px_api::ErrorBody),
        Denied,
    )
)]
pub(super) async fn path(
    state: State<AppState>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, caller, id, path, request).await
}

async fn serve(
    State(state): State<AppState>,
    caller: Caller,
    id: String,
    path: String,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require("plugin:read")?;
    let Some(pages) = state.plugins.admin_pages(&id) else {
        return Err(ApiError::not_found(format!("plugin {id} is not installed")));
    };
    let dir = match pages {
        AdminPages::Process => {
            return Ok(super::forward::to_plugin(State(state), id, request, Upstream::Admin).await);
        }
        AdminPages::Dir(dir) => Some(dir),
        AdminPages::None => None,
    };
    let Some(dir) = dir else {
        return Err(ApiError::not_found(format!(
            "plugin {id} has no admin pages"
        )));
    };
    let _ = path;
    let (mut parts, body) = request.into_parts();
    // the raw (still percent-encoded) path below the prefix; ServeDir
    // decodes it, resolves it below `dir` and refuses `..`
    let prefix = format!("/_p/{id}/admin");
    let raw = parts.uri.path();
    let below = raw.strip_prefix(prefix.as_str()).unwrap_or("/");
    let below = if below.is_empty() { "/" } else { below };
    parts.uri = below
        .parse::<Uri>()
        .map_err(|_| ApiError::bad_request("bad path"))?;
    let request = Request::from_parts(parts, body);
    let mut response = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .oneshot(request)
        .await
        .map_err(ApiError::internal)?;
    // a directory without its `/` redirects to it: below the prefix again
    if let Some(location) = response.headers().get(header::LOCATION)
        && let Ok(location) = location.to_str()
        && location.starts_with('/')
        && let Ok(value) = HeaderValue::try_from(format!("{prefix}{location}"))
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response.map(Body::new).into_response())
}
