//! Who is looking at an Admin page: the session cookie, or a redirect to the
//! login page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::language::Languages;
use super::nav::Viewer;
use crate::auth::{self, Caller};
use crate::state::AppState;

/// A signed-in Admin user (session cookie only; bearer tokens are for the API)
/// and the languages their browser asks for.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The user and their permissions.
    pub caller: Caller,
    /// From the request's `Accept-Language`.
    pub languages: Languages,
}

impl Signed {
    /// The session's CSRF token.
    pub fn csrf(&self) -> &str {
        self.caller.csrf.as_deref().unwrap_or_default()
    }

    /// Who is looking, for the plugins' menus.
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            caller: &self.caller,
            languages: &self.languages,
        }
    }

    /// Whether a form's `csrf` field matches the session.
    pub fn csrf_ok(&self, sent: &str) -> bool {
        let expected = self.csrf();
        !expected.is_empty() && constant_time_eq(expected.as_bytes(), sent.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/admin/plugins");
            login_redirect(next)
        };
        let Some(secret) = auth::session_cookie(&parts.headers) else {
            return Err(to_login());
        };
        let mut only_cookie = HeaderMap::new();
        let cookie = format!("{}={secret}", auth::SESSION_COOKIE);
        let Ok(cookie) = cookie.parse() else {
            return Err(to_login());
        };
        only_cookie.insert(header::COOKIE, cookie);
        match auth::caller_for_headers(state, &only_cookie).await {
            Ok(Some(caller)) if caller.csrf.is_some() => Ok(Signed {
                caller,
                languages: Languages::from_headers(&parts.headers),
            }),
            Ok(_) => Err(to_login()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Where to go after logging in: an Admin path only (no open redirect).
pub(super) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/admin") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/admin/plugins",
    }
}

fn login_redirect(next: &str) -> Response {
    let next = safe_next(Some(next));
    let target = format!("/admin/login?next={}", super::layout::url_encode(next));
    Redirect::to(&target).into_response()
}

/// The answer to a form whose `csrf` field is missing or wrong.
pub(super) fn bad_csrf() -> Response {
    (
        StatusCode::FORBIDDEN,
        "the form's CSRF token does not match your session; reload the page and try again",
    )
        .into_response()
}
