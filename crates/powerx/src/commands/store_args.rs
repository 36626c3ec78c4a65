//! Where the store is: shared by `serve`, `users` and `tokens`.

use std::path::PathBuf;

use px_core::Store;

/// `--data-dir` and `--database-url`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Data directory (SQLite database, plugin revisions, plugin data).
    #[arg(long, env = "PX_DATA_DIR", default_value = "./.powerx", global = true)]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); default: SQLite in the data directory.
    #[arg(long, env = "PX_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Opens the store (creating the data directory for SQLite).
    pub async fn open(&self) -> anyhow::Result<Store> {
        let mut config = px_core::Config::new(&self.data_dir);
        config.database_url = self.database_url.clone();
        if config.database_url.is_none() {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        Store::connect(&config.database_url()).await
    }
}
