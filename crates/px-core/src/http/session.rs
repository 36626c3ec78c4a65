//! `POST /api/login` and `POST /api/logout`: the Admin session cookie.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use crate::auth::{self, SESSION_COOKIE};
use crate::state::AppState;
use crate::store::sessions::SESSION_TTL_MS;

/// Login form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// Login answer; the session itself travels in the cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Signed-in user.
    pub user: String,
    /// Token to send as `X-CSRF-Token` on state-changing API calls.
    pub csrf: String,
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
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

/// Sign in: an Admin session cookie.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "session",
    description = "Permission: none. Checks the name and password and sets the `px_session` \
        cookie (HttpOnly, SameSite=Strict). Cookie requests that change state must send the \
        returned `csrf` as `X-CSRF-Token`. Every attempt is audited; repeated failures for a \
        name or an address are throttled (429).",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "signed in; the session is in Set-Cookie", body = LoginResponse,
            headers(("set-cookie" = String, description = "px_session=…; HttpOnly; SameSite=Strict"))),
        (status = 401, description = "wrong name or password", body = px_api::ErrorBody),
        (status = 429, description = "too many failed attempts; try later", body = px_api::ErrorBody),
    )
)]
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

/// Sign out: ends the session of the cookie, if any.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "session",
    description = "Permission: none. Deletes the session named by the `px_session` cookie and \
        clears the cookie.",
    security(()),
    responses((status = 204, description = "signed out"))
)]
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
