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
use super::layout::{Layout, error_page, plugin_menus, render};
use super::nav::{Access, access, entry_href, plugin_tree};
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
    entry: Option<OpenLink>,
}

/// The "open" button: the plugin's first entry the user may see.
#[derive(Debug, Clone)]
struct OpenLink {
    href: String,
    /// The entry's title in the user's language; empty when no menu points there.
    title: String,
    /// The locale of `title` when translated.
    lang: Option<String>,
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
    if !who.caller.can("plugin:read") {
        let message = format!("{} lacks the plugin:read permission", who.caller.actor);
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
        can_dev: state.config.dev && who.caller.can("plugin:dev"),
    };
    Ok((status, detail))
}

async fn page(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Response {
    let (s, detail) = match load(&state, &who, &id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let has_admin = detail.manifest.pointer("/admin/static_dir").is_some();
    // the first entry the sidebar shows for this plugin
    let menus = plugin_menus(&detail.manifest);
    let entry = plugin_tree(&menus, &id, &s.plugin.name, who.viewer())
        .into_iter()
        .next()
        .map(|m| OpenLink {
            href: m.href,
            title: m.title,
            lang: m.lang,
        })
        .or_else(|| {
            // no menu the user may see: the admin's root, unless a menu refuses it
            let root_open = matches!(access(&menus, "/", who.viewer()), Access::Open(_));
            (has_admin && root_open).then(|| OpenLink {
                href: entry_href(&id, "/"),
                title: String::new(),
                lang: None,
            })
        });
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
