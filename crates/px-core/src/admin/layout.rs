//! What every page shares: the signed-in user, the sidebar (Admin's own
//! sections and the plugins' menus the user may see), the firing alerts, and
//! rendering a template into a response.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::Signed;
use super::assets;
use super::nav::{self, NavMenu, NavRow};
use crate::state::AppState;

/// The frame around every page.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<title>` and the page heading.
    pub title: String,
    /// Which Admin section is current: `plugins`, `audit`, `guide` or `entry`.
    pub section: &'static str,
    /// Signed-in user.
    pub user: String,
    /// The user's role.
    pub role: String,
    /// First letter of the user name, upper-cased (the avatar).
    pub initial: String,
    /// The session's CSRF token (for forms and the `<meta>` scripts read).
    pub csrf: String,
    /// Dev mode on.
    pub dev: bool,
    /// The user may read the audit log.
    pub can_audit: bool,
    /// The user may use the dev API (and dev mode is on).
    pub can_dev: bool,
    /// Plugin menus the user may see (top-level entries of every plugin,
    /// sorted together; each with its own tree below).
    pub menus: Vec<NavMenu>,
    /// Messages of the alerts that are firing.
    pub alerts: Vec<String>,
    /// Cache-busting version of the assets.
    pub assets: &'static str,
}

impl Layout {
    /// The frame for `caller` on a page of `section`.
    pub async fn new(state: &AppState, who: &Signed, section: &'static str, title: &str) -> Layout {
        let caller = &who.caller;
        Layout {
            title: title.to_owned(),
            section,
            user: caller.actor.clone(),
            role: caller.role.clone(),
            initial: caller
                .actor
                .chars()
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default(),
            csrf: who.csrf().to_owned(),
            dev: state.config.dev,
            can_audit: caller.can("audit:read"),
            can_dev: state.config.dev && caller.can("plugin:dev"),
            menus: menus(state, who).await,
            alerts: state
                .metrics
                .alerts()
                .into_iter()
                .filter(|a| a.firing)
                .map(|a| a.message)
                .collect(),
            assets: assets::version(),
        }
    }

    /// Marks the sidebar entry with this href as the current page, and
    /// opens the groups it is in.
    pub fn activate(mut self, href: &str) -> Layout {
        nav::activate(&mut self.menus, href);
        self
    }

    /// The sidebar's plugin menus in document order.
    pub fn nav_rows(&self) -> Vec<NavRow<'_>> {
        nav::rows(&self.menus)
    }
}

/// The `admin.menus` trees of every installed plugin, as the user may see
/// them; top-level entries of all plugins sorted together.
pub async fn menus(state: &AppState, who: &Signed) -> Vec<NavMenu> {
    if !who.caller.can("plugin:read") {
        return Vec::new();
    }
    let Ok(list) = state.plugins.list().await else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for plugin in list.plugins {
        let Ok(Some(detail)) = state.plugins.detail(&plugin.id).await else {
            continue;
        };
        let menus = plugin_menus(&detail.manifest);
        entries.extend(nav::plugin_tree(
            &menus,
            &plugin.id,
            &plugin.name,
            who.viewer(),
        ));
    }
    nav::sort(&mut entries);
    entries
}

/// The `admin.menus` of a manifest (as served in `PluginDetail.manifest`).
pub fn plugin_menus(manifest: &serde_json::Value) -> Vec<px_manifest::Menu> {
    manifest
        .pointer("/admin/menus")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default()
}

/// Renders a page, or a plain 500 when the template fails.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("rendering an admin page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not render the page",
            )
                .into_response()
        }
    }
}

/// A page that only says what went wrong.
#[derive(Template)]
#[template(path = "admin/error.html")]
pub struct ErrorPage {
    /// The frame.
    pub layout: Layout,
    /// What went wrong.
    pub message: String,
}

/// An error page with a status, inside the frame.
pub async fn error_page(
    state: &AppState,
    who: &Signed,
    status: StatusCode,
    message: impl Into<String>,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let page = ErrorPage {
        layout: Layout::new(state, who, "error", title).await,
        message: message.into(),
    };
    render(status, &page)
}

/// Percent-encodes a query value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
