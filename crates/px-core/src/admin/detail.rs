//! `/admin/plugins/{id}`: one plugin's state, revision history (phases,
//! durations, rollback reasons), the live log panel, and the rollback and
//! uninstall buttons (dev mode and `plugin:dev` only; they call the REST API,
//! which checks both again).
//!
//! `/admin/plugins/{id}/_status` renders the status and history part alone;
//! `detail.js` swaps it in when a lifecycle event for the plugin arrives.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::Signed;
use super::layout::{Layout, entry_href, error_page, plugin_menus, render};
use super::view::{PluginView, RevisionView};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/plugins/{id}", get(page))
        .route("/admin/plugins/{id}/_status", get(status))
}

/// The part of the page that live updates replace.
#[derive(Debug, Clone)]
struct Status {
    plugin: PluginView,
    revisions: Vec<RevisionView>,
    /// The newest revision is not the running one: `(newest, running)`.
    stale: Option<(u64, String)>,
    can_dev: bool,
}

#[derive(Template)]
#[template(path = "admin/detail.html")]
struct DetailPage {
    layout: Layout,
    s: Status,
    description: String,
    entry: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/detail_status.html")]
struct StatusFragment {
    s: Status,
}

async fn load(
    state: &AppState,
    who: &Signed,
    id: &str,
) -> Result<(Status, px_api::PluginDetail), Response> {
    if !who.0.can("plugin:read") {
        let message = format!("{} lacks the plugin:read permission", who.0.actor);
        return Err(error_page(state, who, StatusCode::FORBIDDEN, message).await);
    }
    let detail = match state.plugins.detail(id).await {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            let message = format!("plugin {id} is not installed");
            return Err(error_page(state, who, StatusCode::NOT_FOUND, message).await);
        }
        Err(e) => {
            tracing::error!("reading plugin {id}: {e:#}");
            let message = "could not read the plugin; see Core's log";
            return Err(error_page(state, who, StatusCode::INTERNAL_SERVER_ERROR, message).await);
        }
    };
    let summary = &detail.summary;
    let revisions: Vec<RevisionView> = detail
        .revisions
        .iter()
        .map(|r| RevisionView::new(r, summary.revision, summary.stable_revision))
        .collect();
    let newest = detail.revisions.iter().map(|r| r.revision).max();
    let stale = match (newest, summary.revision) {
        (Some(newest), running) if running != Some(newest) => Some((
            newest,
            running.map_or_else(|| "nothing".to_owned(), |r| format!("r{r}")),
        )),
        _ => None,
    };
    let status = Status {
        plugin: PluginView::from(summary),
        revisions,
        stale,
        can_dev: state.config.dev && who.0.can("plugin:dev"),
    };
    Ok((status, detail))
}

async fn page(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Response {
    let (s, detail) = match load(&state, &who, &id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let has_admin = detail.manifest.pointer("/admin/static_dir").is_some();
    let entry = plugin_menus(&detail.manifest)
        .into_iter()
        .filter(|m| m.permission.iter().all(|p| who.0.can(p)))
        .min_by_key(|m| m.order.unwrap_or(0))
        .map(|m| entry_href(&id, &m.path))
        .or_else(|| has_admin.then(|| entry_href(&id, "/")));
    let title = s.plugin.name.clone();
    let page = DetailPage {
        layout: Layout::new(&state, &who, "plugins", &title).await,
        s,
        description: detail.description.unwrap_or_default(),
        entry,
    };
    render(StatusCode::OK, &page)
}

async fn status(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Response {
    match load(&state, &who, &id).await {
        Ok((s, _)) => render(StatusCode::OK, &StatusFragment { s }),
        Err(response) => response,
    }
}
