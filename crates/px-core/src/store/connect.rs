//! Opening the pool: per-backend settings, and an error that says which
//! server could not be reached (host, port, database, user; never the password).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyPool, Connection};

use super::{Backend, StoreOptions};

/// A database URL that may hold a password: `Debug` shows only its scheme.
pub(super) struct SecretUrl(pub String);

impl SecretUrl {
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split(':').next().unwrap_or_default();
        write!(f, "{scheme}://…")
    }
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                              PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

pub(super) async fn pool(url: &str, options: &StoreOptions) -> anyhow::Result<(AnyPool, Backend)> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url).context(
        "unsupported database URL scheme (use sqlite://… or postgres://user:password@host:port/database)",
    )?;
    let max = options.max_connections.unwrap_or(match backend {
        Backend::Sqlite => 4,
        Backend::Postgres => 20,
    });
    let connected = AnyPoolOptions::new()
        .max_connections(max.max(1))
        .acquire_timeout(options.acquire_timeout)
        // a connection the server dropped (restart, pg_terminate_backend) is
        // noticed before use and replaced: the pool reconnects on its own
        .test_before_acquire(true)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    use sqlx::Executor;
                    conn.execute(SQLITE_PRAGMAS).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await;
    match connected {
        Ok(pool) => Ok((pool, backend)),
        Err(error) if backend == Backend::Postgres => {
            Err(unreachable(url, error, options.acquire_timeout).await)
        }
        Err(error) => Err(anyhow::Error::new(error).context("opening the SQLite database")),
    }
}

/// Where a PostgreSQL URL points, without its password.
pub(crate) fn describe_postgres(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(options) => {
            let place = match options.get_socket() {
                Some(socket) => socket.display().to_string(),
                None => format!("{}:{}", options.get_host(), options.get_port()),
            };
            format!(
                "PostgreSQL at {place} (database {:?}, user {:?})",
                options.get_database().unwrap_or(options.get_username()),
                options.get_username()
            )
        }
        Err(_) => "PostgreSQL (the URL does not parse)".to_owned(),
    }
}

/// A clear error for a server that did not answer: the pool only says it
/// timed out, so one direct attempt finds the cause.
async fn unreachable(url: &str, error: sqlx::Error, waited: Duration) -> anyhow::Error {
    let place = describe_postgres(url);
    if !matches!(error, sqlx::Error::PoolTimedOut) {
        return anyhow::anyhow!("cannot connect to {place}: {error}");
    }
    let probe = match PgConnectOptions::from_str(url) {
        Ok(options) => {
            let attempt = sqlx::PgConnection::connect_with(&options);
            match tokio::time::timeout(Duration::from_secs(3), attempt).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    "no free connection".to_owned()
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the server did not answer".to_owned(),
            }
        }
        Err(e) => e.to_string(),
    };
    anyhow::anyhow!(
        "cannot reach {place} (waited {} s): {probe}",
        waited.as_secs_f32()
    )
}
