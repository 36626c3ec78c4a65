//! `/admin/plugins`: every installed plugin with its live state, and the
//! "Install from local directory" form (dev mode and `plugin:dev` only; the
//! form posts to `POST /api/plugins/dev/install`, which checks both again).
//!
//! `/admin/plugins/_rows` renders just the table body; `plugins.js` swaps it
//! in when a lifecycle event arrives on the WebSocket.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::Signed;
use super::layout::{Layout, error_page, render};
use super::view::PluginView;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/plugins", get(page))
        .route("/admin/plugins/_rows", get(rows))
}

#[derive(Template)]
#[template(path = "admin/plugins.html")]
struct PluginsPage {
    layout: Layout,
    rows: Vec<PluginView>,
    allowed_dirs: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/plugin_rows.html")]
struct PluginRows {
    rows: Vec<PluginView>,
}

async fn load(state: &AppState, who: &Signed) -> Result<Vec<PluginView>, Response> {
    if !who.caller.can("plugin:read") {
        return Err(error_page(
            state,
            who,
            StatusCode::FORBIDDEN,
            format!("{} lacks the plugin:read permission", who.caller.actor),
        )
        .await);
    }
    match state.plugins.list().await {
        Ok(list) => Ok(list.plugins.iter().map(PluginView::from).collect()),
        Err(e) => {
            tracing::error!("listing plugins: {e:#}");
            Err(error_page(
                state,
                who,
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not list the plugins; see Core's log",
            )
            .await)
        }
    }
}

async fn page(State(state): State<AppState>, who: Signed) -> Response {
    let rows = match load(&state, &who).await {
        Ok(rows) => rows,
        Err(response) => return response,
    };
    let page = PluginsPage {
        layout: Layout::new(&state, &who, "plugins", "Plugins").await,
        rows,
        allowed_dirs: state
            .config
            .allowed_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect(),
    };
    render(StatusCode::OK, &page)
}

async fn rows(State(state): State<AppState>, who: Signed) -> Response {
    match load(&state, &who).await {
        Ok(rows) => render(StatusCode::OK, &PluginRows { rows }),
        Err(response) => response,
    }
}
