//! `/admin/login` (form → session cookie → redirect) and `/admin/logout`.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::layout::render;
use super::session::{bad_csrf, safe_next};
use super::{Signed, assets};
use crate::auth;
use crate::http::{clear_cookie_header, session_cookie_header};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(form).post(submit))
        .route("/admin/logout", post(logout))
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    next: String,
    name: String,
    error: Option<String>,
    assets: &'static str,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref()).to_owned();
    let signed_in = match auth::session_cookie(&headers) {
        Some(secret) => matches!(state.store.session(secret).await, Ok(Some(_))),
        None => false,
    };
    if signed_in {
        return Redirect::to(&next).into_response();
    }
    let page = LoginPage {
        next,
        name: String::new(),
        error: None,
        assets: assets::version(),
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_owned();
    match auth::login(&state, form.name.trim(), &form.password, remote.ip()).await {
        Ok((secret, _csrf)) => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie_header(&secret));
            response
        }
        Err(error) => {
            let page = LoginPage {
                next,
                name: form.name,
                error: Some(error.detail().message.clone()),
                assets: assets::version(),
            };
            render(error.status, &page)
        }
    }
}

#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    who: Signed,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if !who.csrf_ok(&form.csrf) {
        return bad_csrf();
    }
    if let Some(secret) = auth::session_cookie(&headers)
        && let Err(e) = state.store.delete_session(secret).await
    {
        tracing::error!("ending a session: {e:#}");
    }
    let mut response = Redirect::to("/admin/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie_header());
    response
}
