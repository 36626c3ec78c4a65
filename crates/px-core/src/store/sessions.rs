//! Admin sessions: a random secret in an HttpOnly cookie, stored as a sha256
//! hash with an expiry and a CSRF token for the session's forms.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::tokens::new_secret;
use super::{Store, now_ms};

/// How long a session lasts without use.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// User name.
    pub user: String,
    /// User role.
    pub role: String,
    /// Token that every state-changing request of this session must echo.
    pub csrf: String,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Opens a session for a user; returns the cookie secret and the CSRF token.
    pub async fn create_session(&self, user_name: &str) -> anyhow::Result<(String, String)> {
        let Some(user) = self.user_by_name(user_name).await? else {
            anyhow::bail!("no user named {user_name:?}");
        };
        let secret = new_secret();
        let csrf = new_secret();
        let now = now_ms();
        sqlx::query("INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(hash(&secret))
            .bind(&user.id)
            .bind(&csrf)
            .bind(now)
            .bind(now + SESSION_TTL_MS)
            .execute(self.pool())
            .await?;
        Ok((secret, csrf))
    }

    /// The session behind a cookie secret, if it is live.
    pub async fn session(&self, secret: &str) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT u.name, u.role, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.hash = $1 AND s.expires_at > $2",
        )
        .bind(hash(secret))
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(Session {
                user: row.try_get(0)?,
                role: row.try_get(1)?,
                csrf: row.try_get(2)?,
            }),
            None => None,
        })
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, secret: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash(secret))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes expired sessions.
    pub async fn prune_sessions(&self) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
