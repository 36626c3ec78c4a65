//! Core's resolved configuration: defaults, then the policy file, then `PX_`
//! environment, then flags (the binary does the layering; this is the result).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::policy::Policy;
use crate::store::StoreOptions;

/// Everything `serve` needs to run a Core.
#[derive(Clone)]
pub struct Config {
    /// Data directory: SQLite database, plugin revisions, plugin data.
    pub data_dir: PathBuf,
    /// Database URL; `None` = SQLite at `<data_dir>/powerx.db`.
    pub database_url: Option<String>,
    /// Connection pool settings.
    pub store: StoreOptions,
    /// Dev API on (`--dev`, `PX_PLUGIN_DEV_MODE=1` or `dev.enabled`).
    pub dev: bool,
    /// The policy (built-in default when no file was given).
    pub policy: Policy,
    /// URL plugins and the CLI use to reach this Core; filled from the bound address when empty.
    pub core_url: String,
    /// Home directory used to expand `~` in `dev.allowed_dirs`.
    pub home: Option<PathBuf>,
}

impl Config {
    /// A config with defaults for the given data directory (dev mode off).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            store: StoreOptions::default(),
            dev: false,
            policy: Policy::default(),
            core_url: String::new(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    /// The database URL to connect to.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("powerx.db").display()
            ),
        }
    }

    /// Fills `core_url` from the bound address when it is empty.
    pub fn with_bound_addr(mut self, addr: SocketAddr) -> Self {
        if self.core_url.is_empty() {
            self.core_url = format!("http://{addr}");
        }
        self
    }

    /// `dev.allowed_dirs` with `~` expanded.
    pub fn allowed_dirs(&self) -> Vec<PathBuf> {
        self.policy.allowed_dirs(self.home.as_deref())
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the database URL may hold a password: show only its scheme
        let scheme = self
            .database_url()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database", &scheme)
            .field("dev", &self.dev)
            .field("core_url", &self.core_url)
            .field("policy", &self.policy)
            .finish()
    }
}
