//! Who is calling: the `Caller` extractor resolves a bearer token to a user
//! (permissions from the policy's roles) or to a plugin (no dev permissions).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::http::ApiError;
use crate::state::AppState;
use crate::store::tokens::TokenOwner;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User name, or `plugin:<id>` for a plugin token.
    pub actor: String,
    /// Effective permission keys (`*` = all).
    pub permissions: Vec<String>,
    /// Set when the caller is a plugin's own token.
    pub plugin_id: Option<String>,
}

impl Caller {
    /// Whether the caller holds a permission.
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == "*" || p == permission)
    }

    /// Ok when the caller holds the permission, else 403.
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
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves a token secret to a caller; `None` when unknown or revoked.
pub async fn caller_for_token(state: &AppState, secret: &str) -> Result<Option<Caller>, ApiError> {
    let owner = state
        .store
        .authenticate_token(secret)
        .await
        .map_err(ApiError::internal)?;
    Ok(owner.map(|owner| match owner {
        TokenOwner::User { name, role } => Caller {
            actor: name,
            permissions: state.config.policy.permissions(&role).to_vec(),
            plugin_id: None,
        },
        TokenOwner::Plugin { plugin_id } => Caller {
            actor: format!("plugin:{plugin_id}"),
            permissions: Vec::new(),
            plugin_id: Some(plugin_id),
        },
    }))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(secret) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "missing credentials: send Authorization: Bearer <token>",
            ));
        };
        match caller_for_token(state, secret).await? {
            Some(caller) => Ok(caller),
            None => Err(ApiError::unauthorized("invalid or revoked token")),
        }
    }
}
