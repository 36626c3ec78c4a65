//! `GET /_p/{id}/admin/*`: the current revision's admin process, when it
//! has one and it is serving, else its `admin.static_dir`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{self, HeaderMap};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
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
    (`admin.process`, forwarded at the full path `/_p/{id}/admin/…` with \
    `X-Forwarded-Prefix: /_p/{id}/admin` and `X-PX-User`), or, when it has none or it is down, \
    the files of its `admin.static_dir` (`index.html` for a directory, and for a GET or HEAD of \
    a path that is no file, has no extension and accepts HTML: single-page apps).";

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
    // `path` is the part below the prefix, percent-decoded by the router
    if path.split(['/', '\\']).any(|segment| segment == "..") {
        return Err(ApiError::not_found(format!("no such file: {path}")));
    }
    let (mut parts, body) = request.into_parts();
    // the raw (still percent-encoded) path below the prefix; ServeDir
    // decodes it, resolves it below `dir` and refuses `..`
    let prefix = format!("/_p/{id}/admin");
    let raw = parts.uri.path();
    let below = raw.strip_prefix(prefix.as_str()).unwrap_or("/");
    let below = if below.is_empty() { "/" } else { below };
    let page = is_page_request(&parts.method, &path, &parts.headers);
    parts.uri = below
        .parse::<Uri>()
        .map_err(|_| ApiError::bad_request("bad path"))?;
    let (method, headers) = (parts.method.clone(), parts.headers.clone());
    let files = ServeDir::new(dir).append_index_html_on_directories(true);
    let mut response = files
        .clone()
        .oneshot(Request::from_parts(parts, body))
        .await
        .map_err(ApiError::internal)?;
    if response.status() == StatusCode::NOT_FOUND && page {
        // a single-page app's deep link: its own router reads the path
        let mut index = Request::new(Body::empty());
        *index.method_mut() = method;
        *index.uri_mut() = Uri::from_static("/index.html");
        *index.headers_mut() = headers;
        response = files.oneshot(index).await.map_err(ApiError::internal)?;
    }
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

/// Whether a request that found no file gets the app's `index.html`: a GET
/// or HEAD of a path without a file extension (an asset stays 404) whose
/// `Accept` is empty or takes HTML.
fn is_page_request(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    let extension = std::path::Path::new(last).extension().is_some();
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let html = accept.trim().is_empty() || accept.contains("text/html") || accept.contains("*/*");
    (method == Method::GET || method == Method::HEAD) && !extension && html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn deep_links_are_pages_and_assets_are_not() {
        let html = accept("text/html,application/xhtml+xml;q=0.9");
        assert!(is_page_request(&Method::GET, "templates/crud", &html));
        assert!(is_page_request(&Method::HEAD, "templates/crud", &html));
        assert!(is_page_request(&Method::GET, "x", &HeaderMap::new()));
        assert!(is_page_request(&Method::GET, "x/", &accept("*/*")));
        assert!(!is_page_request(
            &Method::GET,
            "x",
            &accept("application/json")
        ));
        assert!(!is_page_request(&Method::GET, "_nuxt/app.js", &html));
        assert!(!is_page_request(&Method::GET, "logo.svg", &html));
        assert!(!is_page_request(&Method::POST, "templates/crud", &html));
    }
}
