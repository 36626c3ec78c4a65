//! `POST /api/login` and `POST /api/logout`: the Admin session cookie.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::auth::{self, SESSION_COOKIE};
use crate::state::AppState;
use crate::store::sessions::SESSION_TTL_MS;

/// Login form.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// Login answer; the session itself travels in the cookie.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    /// Signed-in user.
    pub user: String,
    /// Token to send as `X-CSRF-Token` on state-changing API calls.
    pub csrf: String,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie_header(secret: &str) -> HeaderValue {
    let max_age = SESSION_TTL_MS / 1000;
    let value =
        format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    HeaderValue::from_str(&value).expect("cookie value is ASCII")
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie_header() -> HeaderValue {
    HeaderValue::from_static("px_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let (secret, csrf) = auth::login(&state, &body.name, &body.password, remote.ip()).await?;
    let mut response = Json(LoginResponse {
        user: body.name,
        csrf,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&secret));
    Ok(response)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(secret) = auth::session_cookie(&headers) {
        state.store.delete_session(secret).await?;
    }
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie_header());
    Ok(response)
}
