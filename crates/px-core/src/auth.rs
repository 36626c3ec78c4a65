//! Who is calling: the `Caller` extractor resolves a bearer token (CLI,
//! scripts, plugins) or the Admin session cookie to a user with the
//! permissions of its policy role, or to a plugin (no dev permissions).
//! Cookie-authenticated requests that change state must echo the session's
//! CSRF token in `X-CSRF-Token` (Admin forms check their `csrf` field instead).

mod throttle;

pub use throttle::LoginThrottle;

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

use crate::http::ApiError;
use crate::state::AppState;
use crate::store::audit::{AuditAction, AuditEntry, AuditResult};
use crate::store::tokens::TokenOwner;

/// Name of the Admin session cookie.
pub const SESSION_COOKIE: &str = "px_session";
/// Header carrying the CSRF token on cookie-authenticated API calls.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User name, or `plugin:<id>` for a plugin token.
    pub actor: String,
    /// Role name (empty for plugins).
    pub role: String,
    /// Effective permission keys (`*` = all).
    pub permissions: Vec<String>,
    /// Set when the caller is a plugin's own token.
    pub plugin_id: Option<String>,
    /// The session's CSRF token, when authenticated by the Admin cookie.
    pub csrf: Option<String>,
}

impl Caller {
    /// Whether the caller holds a permission.
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == "*" || p == permission)
    }

    /// Ok when the caller holds the permission, else 403 (audited by the HTTP layer).
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{} lacks the {permission} permission",
                self.actor
            )))
        }
    }

    fn for_user(state: &AppState, name: String, role: String, csrf: Option<String>) -> Caller {
        let permissions = state.config.policy.permissions(&role).to_vec();
        Caller {
            actor: name,
            role,
            permissions,
            plugin_id: None,
            csrf,
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The Admin session cookie of a request, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Resolves a token secret to a caller; `None` when unknown or revoked.
pub async fn caller_for_token(state: &AppState, secret: &str) -> Result<Option<Caller>, ApiError> {
    let owner = state
        .store
        .authenticate_token(secret)
        .await
        .map_err(ApiError::internal)?;
    Ok(owner.map(|owner| match owner {
        TokenOwner::User { name, role } => Caller::for_user(state, name, role, None),
        TokenOwner::Plugin { plugin_id } => Caller {
            actor: format!("plugin:{plugin_id}"),
            role: String::new(),
            permissions: Vec::new(),
            plugin_id: Some(plugin_id),
            csrf: None,
        },
    }))
}

/// Resolves the credentials in request headers: bearer first, then the session cookie.
pub async fn caller_for_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, ApiError> {
    if let Some(secret) = bearer(headers) {
        return caller_for_token(state, secret).await;
    }
    if let Some(secret) = session_cookie(headers) {
        let session = state
            .store
            .session(secret)
            .await
            .map_err(ApiError::internal)?;
        return Ok(session.map(|s| Caller::for_user(state, s.user, s.role, Some(s.csrf))));
    }
    Ok(None)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if bearer(&parts.headers).is_none() && session_cookie(&parts.headers).is_none() {
            return Err(ApiError::unauthorized(
                "missing credentials: send Authorization: Bearer <token>",
            ));
        }
        let Some(caller) = caller_for_headers(state, &parts.headers).await? else {
            return Err(ApiError::unauthorized(
                "invalid, expired or revoked credentials",
            ));
        };
        let changes_state = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let is_api = parts.uri.path().starts_with("/api/");
        if let (Some(expected), true, true) = (&caller.csrf, changes_state, is_api) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent != Some(expected.as_str()) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token for a session request",
                ));
            }
        }
        Ok(caller)
    }
}

/// Checks a name and password, with throttling and an audit row either way;
/// on success opens a session and returns `(cookie secret, csrf token)`.
pub async fn login(
    state: &AppState,
    name: &str,
    password: &str,
    remote: IpAddr,
) -> Result<(String, String), ApiError> {
    if let Err(wait) = state.throttle.check(name, remote) {
        audit_login(
            state,
            name,
            remote,
            AuditResult::Denied,
            Some("too many failed attempts"),
        )
        .await;
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            ),
        ));
    }
    let user = state
        .store
        .verify_password(name, password)
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user else {
        state.throttle.failed(name, remote);
        audit_login(
            state,
            name,
            remote,
            AuditResult::Failure,
            Some("wrong name or password"),
        )
        .await;
        return Err(ApiError::unauthorized("wrong name or password"));
    };
    state.throttle.succeeded(name, remote);
    audit_login(state, &user.name, remote, AuditResult::Success, None).await;
    state
        .store
        .create_session(&user.name)
        .await
        .map_err(ApiError::internal)
}

async fn audit_login(
    state: &AppState,
    name: &str,
    remote: IpAddr,
    result: AuditResult,
    reason: Option<&str>,
) {
    let entry = AuditEntry {
        reason: reason.map(str::to_owned),
        remote_addr: Some(remote.to_string()),
        ..AuditEntry::new(name, AuditAction::Login, result)
    };
    crate::audit::write(&state.store, entry).await;
}
