//! Shared state handed to every HTTP handler.

use std::sync::Arc;

use crate::auth::LoginThrottle;
use crate::config::Config;
use crate::event_log::EventLog;
use crate::metrics::Metrics;
use crate::plugins::Manager;
use crate::store::Store;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// The resolved configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Installed plugins and their lifecycle.
    pub plugins: Arc<Manager>,
    /// The `plugin.dev.logs` stream kept on disk.
    pub event_log: Arc<EventLog>,
    /// Dev-loop metrics and alert state.
    pub metrics: Arc<Metrics>,
    /// Failed-login bookkeeping.
    pub throttle: Arc<LoginThrottle>,
    /// Cancelled when Core begins to shut down (long-lived connections close on it).
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
