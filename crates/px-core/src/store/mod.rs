//! The store: one narrow interface over SQLite (default) or PostgreSQL, with
//! a portable schema (TEXT ids, INTEGER epoch-millisecond times, JSON as TEXT)
//! and migrations per backend that are never edited once landed.
//!
//! On PostgreSQL several Cores may share one database: [`cluster`] adds the
//! per-plugin advisory locks and the change notifications they follow each
//! other with, and [`artifacts`] keeps every revision's bundle where every
//! Core can read it.

pub mod artifacts;
pub mod audit;
pub mod cluster;
mod connect;
pub mod events;
mod migrate;
pub mod plugins;
mod resolved;
pub mod sessions;
mod text;
pub mod tokens;
pub mod users;

pub use text::UnknownValue;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

/// Which database engine backs the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in the data directory.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names; `None` for an unknown scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }
}

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most open connections; `None` = 4 for SQLite, 20 for PostgreSQL
    /// (each running install of a plugin holds one for its advisory lock).
    pub max_connections: Option<u32>,
    /// Longest wait for a connection, also how long Core waits at start for
    /// the database to come up before it gives up.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Cloneable handle to the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL, kept for the PostgreSQL listener; never printed.
    url: Arc<connect::SecretUrl>,
}

impl Store {
    /// Connects with default pool settings and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects and applies pending migrations. When the database cannot be
    /// reached within `options.acquire_timeout`, the error names its host and
    /// port (never the password).
    pub async fn connect_with(url: &str, options: &StoreOptions) -> anyhow::Result<Store> {
        let (pool, backend) = connect::pool(url, options).await?;
        let store = Store {
            pool,
            backend,
            url: Arc::new(connect::SecretUrl(url.to_owned())),
        };
        anyhow::Context::context(migrate::run(&store).await, "applying database migrations")?;
        Ok(store)
    }

    /// The connection pool, for the store's own modules.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether several Cores may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// Closes every connection (Core is stopping).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
