//! Where the store is: shared by `serve`, `users` and `tokens`.

use std::path::PathBuf;
use std::time::Duration;

use px_core::Store;
use px_core::store::StoreOptions;

/// `--data-dir`, `--database-url` and the pool settings.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Data directory (SQLite database, plugin revisions, plugin data).
    #[arg(long, env = "PX_DATA_DIR", default_value = "./.powerx", global = true)]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://user:password@host:port/db`);
    /// default: SQLite in the data directory. Several Cores may share one PostgreSQL database.
    #[arg(long, env = "PX_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// Most open database connections (default 4 for SQLite, 20 for PostgreSQL).
    #[arg(long, env = "PX_DATABASE_MAX_CONNECTIONS", global = true)]
    pub database_max_connections: Option<u32>,
    /// Seconds to wait for a database connection, also at start for the database to come up.
    #[arg(long, env = "PX_DATABASE_TIMEOUT", default_value_t = 10, global = true)]
    pub database_timeout: u64,
}

impl StoreArgs {
    /// The pool settings.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_secs(self.database_timeout.max(1)),
        }
    }

    /// Opens the store (creating the data directory for SQLite).
    pub async fn open(&self) -> anyhow::Result<Store> {
        let mut config = px_core::Config::new(&self.data_dir);
        config.database_url = self.database_url.clone();
        if config.database_url.is_none() {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        Store::connect_with(&config.database_url(), &self.options()).await
    }
}
