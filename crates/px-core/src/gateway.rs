//! The identity Core hands a plugin on every proxied request (SPEC §3.2): a
//! short-lived `Authorization: Bearer <JWT>` shaped like the one PowerX's
//! gateway mints, signed HS256 with a secret of that plugin alone.
//!
//! The secret is random, made when the plugin's task starts and kept for its
//! lifetime, so every revision of the plugin (a draining one and its
//! successor) verifies the same tokens. The plugin reads it from
//! `POWERX_SECURITY_JWT_SECRET`; it is never one of Core's own secrets, so a
//! plugin can verify tokens for itself and forge none for another plugin.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::auth::Caller;

/// `iss` of every token, and `POWERX_SECURITY_JWT_ISSUER` (PowerX's gateway
/// hard-codes the same).
pub const ISSUER: &str = "powerx-auth";
/// `scope` of every token, and `POWERX_SECURITY_JWT_SCOPE`.
pub const SCOPE: &str = "access";
/// `tid`: this Core has a single tenant. PowerX plugins require a tenant UUID
/// in every token, so Core names its one tenant with this fixed UUID (the
/// "dev tenant"), the same on every Core and across restarts.
pub const TENANT_UUID: &str = "00000000-0000-4000-8000-000000000001";
/// `tid_n`: the dev tenant's numeric id.
pub const TENANT_ID: u64 = 1;
/// How long a token is valid (PowerX: 60 s).
const TTL_SECS: u64 = 60;
/// Random bytes of a secret (hex-encoded: twice as many characters).
const SECRET_BYTES: usize = 32;

/// One plugin's signing secret, with its key ready for every request.
pub struct GatewayKey {
    plugin_id: String,
    audience: String,
    secret: String,
    key: EncodingKey,
    header: Header,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("plugin_id", &self.plugin_id)
            .finish_non_exhaustive()
    }
}

/// The claims of a gateway token (PowerX's `CoreXClaims` and the plugin
/// side's `permission_codes`).
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'static str,
    sub: &'a str,
    aud: [&'a str; 1],
    iat: u64,
    nbf: u64,
    exp: u64,
    tid: &'static str,
    tid_n: u64,
    uid: &'a str,
    mid: &'a str,
    // Core's users have no numeric id; PowerX omits zero ones too
    #[serde(skip_serializing_if = "Option::is_none")]
    uid_n: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mid_n: Option<u64>,
    is_root: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    roles: &'a [&'a str],
    scope: &'static str,
    permission_codes: &'a [String],
    plugin_id: &'a str,
}

impl GatewayKey {
    /// A fresh random secret for `plugin_id`. The HMAC key is the hex
    /// text's bytes, as a plugin reading it from its environment uses it.
    pub fn generate(plugin_id: &str) -> GatewayKey {
        let bytes: [u8; SECRET_BYTES] = rand::random();
        let secret = hex::encode(bytes);
        GatewayKey {
            plugin_id: plugin_id.to_owned(),
            audience: format!("plugin:{plugin_id}"),
            key: EncodingKey::from_secret(secret.as_bytes())
                .expect("a generated secret is not empty"),
            secret,
            header: Header::new(Algorithm::HS256),
        }
    }

    /// `POWERX_SECURITY_JWT_SECRET` (and `…_CTX_HMAC_SECRET`).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `aud` of the tokens: `plugin:<id>`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A token telling the plugin who `caller` is, valid for 60 s from now.
    pub fn mint(&self, caller: &Caller) -> anyhow::Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let role = [caller.role.as_str()];
        let roles: &[&str] = if caller.role.is_empty() { &[] } else { &role };
        let claims = Claims {
            iss: ISSUER,
            sub: &caller.actor,
            aud: [&self.audience],
            iat: now,
            nbf: now,
            exp: now + TTL_SECS,
            tid: TENANT_UUID,
            tid_n: TENANT_ID,
            uid: &caller.actor,
            mid: &caller.actor,
            uid_n: None,
            mid_n: None,
            is_root: caller.permissions.iter().any(|p| p == "*"),
            roles,
            scope: SCOPE,
            permission_codes: &caller.permissions,
            plugin_id: &self.plugin_id,
        };
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex_of_32_bytes() {
        let a = GatewayKey::generate("a.b");
        let b = GatewayKey::generate("a.b");
        assert_eq!(a.secret().len(), 64);
        assert!(a.secret().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.secret(), b.secret());
        assert_eq!(a.audience(), "plugin:a.b");
        assert!(!format!("{a:?}").contains(a.secret()), "Debug hides it");
    }
}
