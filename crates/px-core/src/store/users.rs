//! Users: a name, a role from the policy, an argon2 password hash.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sqlx::Row;

use super::{Store, now_ms};

/// A user as stored (the password hash never leaves the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Login name.
    pub name: String,
    /// Role name, resolved to permissions through the policy.
    pub role: String,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

fn user_from_row(row: &sqlx::any::AnyRow) -> sqlx::Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| anyhow::anyhow!("encoding salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

impl Store {
    /// Creates a user; fails when the name is taken.
    pub async fn add_user(
        &self,
        name: &str,
        role: &str,
        password: Option<&str>,
    ) -> anyhow::Result<User> {
        let hash = password.map(hash_password).transpose()?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            role: role.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO users (id, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.role)
            .bind(hash)
            .bind(user.created_at)
            .execute(self.pool())
            .await
            .with_context(|| format!("adding user {name:?} (does it exist already?)"))?;
        Ok(user)
    }

    /// Looks a user up by name.
    pub async fn user_by_name(&self, name: &str) -> anyhow::Result<Option<User>> {
        let row = sqlx::query("SELECT id, name, role, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// Every user, by name.
    pub async fn users(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query("SELECT id, name, role, created_at FROM users ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(user_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    /// Number of users.
    pub async fn user_count(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// Sets a user's password and ends their Admin sessions; false when
    /// there is no such user.
    pub async fn set_password(&self, name: &str, password: &str) -> anyhow::Result<bool> {
        let hash = hash_password(password)?;
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE name = $1")
            .bind(name)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a user and their tokens; false when there was none.
    pub async fn remove_user(&self, name: &str) -> anyhow::Result<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM tokens WHERE user_id IN (SELECT id FROM users WHERE name = $1)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Checks a name and password; the user when they match.
    pub async fn verify_password(
        &self,
        name: &str,
        password: &str,
    ) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, name, role, created_at, password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: Option<String> = row.try_get("password_hash")?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        if Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(None);
        }
        Ok(Some(user_from_row(&row)?))
    }
}
