//! `/admin/p/{id}/<menu path>`: a plugin's own admin page inside Admin.
//!
//! The page (`/_p/{id}/admin/<path>`) runs in an iframe with
//! `sandbox="allow-scripts allow-same-origin allow-forms"`: the plugin page
//! must run its scripts and call its own API under `/_p/{id}/api/*` on this
//! origin (with the session cookie, so Core can add `X-PX-User`), which needs
//! `allow-same-origin`. What the sandbox still takes away: top-level
//! navigation of Admin, popups, modals, downloads and pointer lock. Plugins
//! are code the developer installs themselves, so sharing the origin is the
//! same trust Core already gives them; a marketplace would serve them from
//! their own origin instead. `entry.js` reloads the frame when a new revision
//! of the plugin goes live (`install.succeeded` on `plugin.dev.logs`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::Signed;
use super::layout::{Layout, error_page, plugin_menus, render};
use super::nav::{Access, access, entry_href};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/p/{id}", get(bare))
        .route("/admin/p/{id}/", get(root))
        .route("/admin/p/{id}/{*path}", get(path))
}

#[derive(Template)]
#[template(path = "admin/entry.html")]
struct EntryPage {
    layout: Layout,
    plugin_id: String,
    plugin_name: String,
    revision: String,
    src: String,
}

async fn bare(Path(id): Path<String>) -> Redirect {
    Redirect::to(&format!("/admin/p/{id}/"))
}

async fn root(state: State<AppState>, who: Signed, Path(id): Path<String>) -> Response {
    show(state, who, id, String::new()).await
}

async fn path(
    state: State<AppState>,
    who: Signed,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    show(state, who, id, path).await
}

async fn show(State(state): State<AppState>, who: Signed, id: String, path: String) -> Response {
    if !who.caller.can("plugin:read") {
        let message = format!("{} lacks the plugin:read permission", who.caller.actor);
        return error_page(&state, &who, StatusCode::FORBIDDEN, message).await;
    }
    let detail = match state.plugins.detail(&id).await {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            let message = format!("plugin {id} is not installed");
            return error_page(&state, &who, StatusCode::NOT_FOUND, message).await;
        }
        Err(e) => {
            tracing::error!("reading plugin {id}: {e:#}");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not read the plugin",
            )
                .into_response();
        }
    };
    if detail.manifest.pointer("/admin/static_dir").is_none() {
        let message = format!("plugin {id} has no admin pages");
        return error_page(&state, &who, StatusCode::NOT_FOUND, message).await;
    }
    let path = format!("/{path}");
    let menus = plugin_menus(&detail.manifest);
    let menu = match access(&menus, &path, who.viewer()) {
        Access::Open(menu) => menu,
        Access::Refused(permission) => {
            let message = format!("{} lacks the {permission} permission", who.caller.actor);
            return error_page(&state, &who, StatusCode::FORBIDDEN, message).await;
        }
    };
    let href = entry_href(&id, &path);
    let name = &detail.summary.name;
    let title = match menu.map(|m| who.viewer().title(m).0) {
        Some(title) if !title.trim().eq_ignore_ascii_case(name.trim()) => {
            format!("{name} · {title}")
        }
        _ => name.clone(),
    };
    let revision = detail.summary.revision.unwrap_or_default();
    let page = EntryPage {
        layout: Layout::new(&state, &who, "entry", &title)
            .await
            .activate(&href),
        plugin_name: detail.summary.name.clone(),
        revision: revision.to_string(),
        src: format!("/_p/{id}/admin{path}?px_rev={revision}"),
        plugin_id: id,
    };
    render(StatusCode::OK, &page)
}
