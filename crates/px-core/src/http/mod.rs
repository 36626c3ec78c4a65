//! The HTTP surface: the router, the JSON error type, and Core's own small
//! endpoints. Plugin routes live in `http::plugins`, the proxy in `crate::proxy`.

mod audit;
mod error;
mod me;
pub mod openapi;
mod ops;
pub mod plugins;
mod session;
mod ws;

pub use error::ApiError;
pub use session::{clear_cookie_header, session_cookie_header};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Prefix of the dev API, hidden (404) when dev mode is off.
pub const DEV_API_PREFIX: &str = "/api/plugins/dev";

/// Every route of Core: the documented API (see [`openapi`]) and the Admin pages.
pub fn router(state: AppState) -> Router {
    let (api, _doc) = openapi::api_router().split_for_parts();
    api.merge(crate::admin::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            audit::audit_denials,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), dev_gate))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// With dev mode off, every dev API path answers 404 whoever asks.
async fn dev_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_dev = path == DEV_API_PREFIX || path.starts_with(&format!("{DEV_API_PREFIX}/"));
    if is_dev && !state.config.dev {
        return ApiError::not_found("no such route").into_response();
    }
    next.run(request).await
}
