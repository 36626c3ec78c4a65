//! `/admin/guide`: how to develop a plugin against *this* Core: dev mode,
//! the exact `px-plugin` commands with this Core's URL, a personal token
//! (created by a form post, shown once) and the state of the alerts.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::Signed;
use super::layout::{Layout, render};
use super::session::bad_csrf;
use crate::state::AppState;
use crate::store::audit::{AuditAction, AuditEntry, AuditResult};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/guide", get(page))
        .route("/admin/guide/token", post(create_token))
}

#[derive(Debug)]
struct AlertRow {
    name: String,
    firing: bool,
    message: String,
}

#[derive(Template)]
#[template(path = "admin/guide.html")]
struct GuidePage {
    layout: Layout,
    core_url: String,
    allowed_dirs: Vec<String>,
    alerts: Vec<AlertRow>,
    token: Option<String>,
    token_name: String,
    can_dev: bool,
}

async fn guide(state: &AppState, who: &Signed, token: Option<String>, name: String) -> GuidePage {
    GuidePage {
        layout: Layout::new(state, who, "guide", "Developer guide").await,
        core_url: state.config.core_url.clone(),
        allowed_dirs: state
            .config
            .allowed_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect(),
        alerts: state
            .metrics
            .alerts()
            .into_iter()
            .map(|a| AlertRow {
                name: a.name.to_owned(),
                firing: a.firing,
                message: a.message,
            })
            .collect(),
        token,
        token_name: name,
        can_dev: who.caller.can("plugin:dev"),
    }
}

async fn page(State(state): State<AppState>, who: Signed) -> Response {
    let page = guide(&state, &who, None, String::new()).await;
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn create_token(
    State(state): State<AppState>,
    who: Signed,
    Form(form): Form<TokenForm>,
) -> Response {
    if !who.csrf_ok(&form.csrf) {
        return bad_csrf();
    }
    let name = match form.name.trim() {
        "" => "admin-guide".to_owned(),
        name => name.chars().take(64).collect(),
    };
    match state
        .store
        .create_user_token(&who.caller.actor, &name)
        .await
    {
        Ok(token) => {
            let entry = AuditEntry {
                reason: Some(format!("personal token {name:?} created in Admin")),
                ..AuditEntry::new(
                    &who.caller.actor,
                    AuditAction::TokenCreate,
                    AuditResult::Success,
                )
            };
            crate::audit::write(&state.store, entry).await;
            let page = guide(&state, &who, Some(token), name).await;
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            tracing::error!("creating a token for {}: {e:#}", who.caller.actor);
            let page = guide(&state, &who, None, name).await;
            render(StatusCode::INTERNAL_SERVER_ERROR, &page)
        }
    }
}
