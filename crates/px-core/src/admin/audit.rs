//! `/admin/audit`: the audit log with filters (plugin, actor, action,
//! result, time range in UTC) and paging. Needs `audit:read`.

use std::str::FromStr;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::Signed;
use super::layout::{Layout, error_page, render, url_encode};
use super::time::{format_ms, parse_local};
use crate::state::AppState;
use crate::store::UnknownValue;
use crate::store::audit::AuditFilter;

/// Rows per page.
const PAGE: i64 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(page))
}

/// The filter form, as sent by the browser (empty fields = no filter).
#[derive(Debug, Default, Clone, Deserialize)]
struct Filters {
    #[serde(default)]
    plugin_id: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    result: String,
    /// `datetime-local` value, read as UTC.
    #[serde(default)]
    from: String,
    /// `datetime-local` value, read as UTC.
    #[serde(default)]
    to: String,
    #[serde(default)]
    offset: i64,
}

impl Filters {
    fn query(&self, offset: i64) -> String {
        let pairs = [
            ("plugin_id", self.plugin_id.as_str()),
            ("actor", &self.actor),
            ("action", &self.action),
            ("result", &self.result),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        if offset > 0 {
            query.push(format!("offset={offset}"));
        }
        format!("/admin/audit?{}", query.join("&"))
    }
}

#[derive(Debug)]
struct Row {
    at: String,
    actor: String,
    action: &'static str,
    plugin_id: String,
    /// Version and revision, e.g. `1.1.0 · r2`.
    version: String,
    result: &'static str,
    reason: String,
    remote: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    f: Filters,
    rows: Vec<Row>,
    problem: Option<String>,
    prev: Option<String>,
    next: Option<String>,
    first: i64,
    last: i64,
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A field naming one of a closed set (empty = any); `Err` is the problem to show.
fn choice<T: FromStr<Err = UnknownValue>>(text: &str) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e: UnknownValue| e.to_string())
}

async fn page(State(state): State<AppState>, who: Signed, Query(f): Query<Filters>) -> Response {
    if !who.caller.can("audit:read") {
        let message = format!("{} lacks the audit:read permission", who.caller.actor);
        return error_page(&state, &who, StatusCode::FORBIDDEN, message).await;
    }
    let mut problem = None;
    let mut time = |text: &str, what: &str| {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let parsed = parse_local(text);
        if parsed.is_none() {
            problem = Some(format!(
                "{what}: expected a date and time like 2026-01-31T09:30"
            ));
        }
        parsed
    };
    let (since, until) = (time(&f.from, "From"), time(&f.to, "To"));
    let offset = f.offset.max(0);
    let choices = (choice(&f.action), choice(&f.result));
    let mut entries = match choices {
        // no row has an unknown action or result: say so, list none
        (Err(unknown), _) | (_, Err(unknown)) => {
            problem = Some(unknown);
            Vec::new()
        }
        (Ok(action), Ok(result)) => {
            let filter = AuditFilter {
                plugin_id: some(&f.plugin_id),
                actor: some(&f.actor),
                action,
                result,
                since,
                until,
                limit: PAGE + 1,
                offset,
            };
            match state.store.audit(&filter).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::error!("reading the audit log: {e:#}");
                    let message = "could not read the audit log; see Core's log";
                    return error_page(&state, &who, StatusCode::INTERNAL_SERVER_ERROR, message)
                        .await;
                }
            }
        }
    };
    let more = entries.len() as i64 > PAGE;
    entries.truncate(PAGE as usize);
    let count = entries.len() as i64;
    let rows = entries
        .into_iter()
        .map(|e| Row {
            at: format_ms(e.at),
            actor: e.actor,
            action: e.action.as_str(),
            plugin_id: e.plugin_id.unwrap_or_default(),
            version: match (e.version, e.revision) {
                (Some(v), Some(r)) => format!("{v} · r{r}"),
                (Some(v), None) => v,
                (None, Some(r)) => format!("r{r}"),
                (None, None) => "—".to_owned(),
            },
            result: e.result.as_str(),
            reason: e.reason.unwrap_or_default(),
            remote: e.remote_addr.unwrap_or_else(|| "—".to_owned()),
        })
        .collect();
    let page = AuditPage {
        layout: Layout::new(&state, &who, "audit", "Audit log").await,
        prev: (offset > 0).then(|| f.query((offset - PAGE).max(0))),
        next: more.then(|| f.query(offset + PAGE)),
        first: if count == 0 { 0 } else { offset + 1 },
        last: offset + count,
        f,
        rows,
        problem,
    };
    render(StatusCode::OK, &page)
}
