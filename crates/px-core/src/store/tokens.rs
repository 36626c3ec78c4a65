//! API tokens: random, shown once, stored as a sha256 hash, named, revocable,
//! with a last-used time. A token belongs to a user, or is scoped to one plugin
//! (`PX_PLUGIN_TOKEN`).

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, now_ms};

/// Prefix that makes PowerX tokens recognizable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "pxt_";

/// How fresh a token's recorded last use is kept, in milliseconds.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A user (permissions come from the user's role).
    User {
        /// User name.
        name: String,
        /// User role.
        role: String,
    },
    /// A plugin's own token: no permissions on the dev API.
    Plugin {
        /// Plugin id.
        plugin_id: String,
    },
}

/// A token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// Label.
    pub name: String,
    /// User name, or `plugin:<id>`.
    pub owner: String,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// Last successful use (epoch ms).
    pub last_used_at: Option<i64>,
    /// Revocation time (epoch ms).
    pub revoked_at: Option<i64>,
}

/// A new random token secret.
pub fn new_secret() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{TOKEN_PREFIX}{body}")
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Creates a token for a user and returns its secret (shown once).
    pub async fn create_user_token(&self, user: &str, name: &str) -> anyhow::Result<String> {
        let Some(user) = self.user_by_name(user).await? else {
            anyhow::bail!("no user named {user:?}");
        };
        let secret = new_secret();
        sqlx::query("INSERT INTO tokens (id, user_id, plugin_id, name, hash, created_at) VALUES ($1, $2, NULL, $3, $4, $5)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&user.id)
            .bind(name)
            .bind(hash(&secret))
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(secret)
    }

    /// Replaces a plugin's token and returns the new secret.
    pub async fn rotate_plugin_token(&self, plugin_id: &str) -> anyhow::Result<String> {
        let secret = new_secret();
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM tokens WHERE plugin_id = $1")
            .bind(plugin_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO tokens (id, user_id, plugin_id, name, hash, created_at) VALUES ($1, NULL, $2, $3, $4, $5)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(plugin_id)
            .bind(format!("plugin {plugin_id}"))
            .bind(hash(&secret))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Replaces the token one Core gives a plugin's processes, leaving other
    /// Cores' tokens for the plugin alone (several Cores on one database).
    pub async fn rotate_core_plugin_token(
        &self,
        plugin_id: &str,
        core_id: &str,
    ) -> anyhow::Result<String> {
        let secret = new_secret();
        let name = format!("plugin {plugin_id} on core {core_id}");
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM tokens WHERE plugin_id = $1 AND name = $2")
            .bind(plugin_id)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO tokens (id, user_id, plugin_id, name, hash, created_at) VALUES ($1, NULL, $2, $3, $4, $5)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(plugin_id)
            .bind(&name)
            .bind(hash(&secret))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Removes every token of a plugin, whichever Core holds it (on uninstall).
    pub async fn delete_plugin_token(&self, plugin_id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM tokens WHERE plugin_id = $1")
            .bind(plugin_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Resolves a presented secret to its owner, recording the use; `None` when unknown or revoked.
    pub async fn authenticate_token(&self, secret: &str) -> anyhow::Result<Option<TokenOwner>> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT t.id, t.plugin_id, t.last_used_at, u.name, u.role FROM tokens t \
             LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        let now = now_ms();
        // record use at most once a minute: no database write per proxied request
        if last_used.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS) {
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(self.pool())
                .await?;
        }
        let plugin_id: Option<String> = row.try_get("plugin_id")?;
        if let Some(plugin_id) = plugin_id {
            return Ok(Some(TokenOwner::Plugin { plugin_id }));
        }
        let name: Option<String> = row.try_get("name")?;
        let role: Option<String> = row.try_get("role")?;
        Ok(name
            .zip(role)
            .map(|(name, role)| TokenOwner::User { name, role }))
    }

    /// Tokens of a user (or of everyone when `user` is `None`), newest first.
    pub async fn tokens(&self, user: Option<&str>) -> anyhow::Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, COALESCE(u.name, 'plugin:' || t.plugin_id) AS owner, t.created_at, t.last_used_at, t.revoked_at \
             FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE (CAST($1 AS TEXT) IS NULL OR u.name = $1) ORDER BY t.created_at DESC",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TokenInfo {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    owner: row.try_get("owner")?,
                    created_at: row.try_get("created_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token by id; false when there was none to revoke.
    pub async fn revoke_token(&self, id: &str) -> anyhow::Result<bool> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
