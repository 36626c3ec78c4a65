//! Admin: Core's web UI, server-rendered with askama templates and small
//! scripts of our own (SPEC §5). Everything it needs (templates, CSS, JS) is
//! compiled into the binary; `/admin/assets/*` serves the static parts.
//!
//! Pages read through the same code paths as the REST handlers and require
//! the session cookie (a missing or expired session redirects to the login
//! page). State-changing actions are either HTML forms to `/admin/*` that
//! carry the session's CSRF token in a hidden `csrf` field, or `fetch` calls
//! to `/api/*` that send it as `X-CSRF-Token` (the token is rendered into a
//! `<meta name="csrf-token">`). Live updates come from `GET /api/ws`
//! (`plugin.dev.logs`): scripts refetch server-rendered fragments when a
//! lifecycle event arrives, so the HTML is rendered in one place only.

mod assets;
mod audit;
mod detail;
mod entry;
mod guide;
mod language;
mod layout;
mod login;
mod nav;
mod plugins;
mod session;
mod time;
mod view;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

pub use session::Signed;

/// The Admin routes, merged into Core's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/", get(home))
        .merge(login::routes())
        .merge(plugins::routes())
        .merge(detail::routes())
        .merge(entry::routes())
        .merge(audit::routes())
        .merge(guide::routes())
        .merge(assets::routes())
        .layer(middleware::map_response(security_headers))
}

async fn home() -> Redirect {
    Redirect::to("/admin/plugins")
}

/// Content-Security-Policy of Admin pages: our own scripts and styles only,
/// frames only from this origin (the plugin entry), and no framing of Admin
/// by other origins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-src 'self'; \
    frame-ancestors 'self'; base-uri 'none'; form-action 'self'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
