//! PowerX Core as a library: the store, the plugin install lifecycle with
//! blue/green swap and rollback, the reverse proxy, authentication, and the
//! HTTP routes. The `powerx` binary is a thin shell over [`serve`].
//!
//! Core never spawns a process itself (that is `px-runtime`), never parses
//! manifests or bundles itself (`px-manifest`, `px-bundle`), and speaks to
//! clients only in `px-api` types.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod config;
pub mod event_log;
pub mod events;
pub mod gateway;
pub mod http;
pub mod lifecycle_log;
pub mod metrics;
pub mod plugins;
pub mod policy;
pub mod proxy;
pub mod retention;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

pub use config::Config;
pub use policy::Policy;
pub use store::Store;

/// Version of this Core, matched against plugins' `requires.powerx`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of PowerX (ArtisanCloud's Core, "CoreX") whose plugin contract
/// this Core implements — the environment it injects, the gateway JWT, the
/// `/_p/{id}/api` and `/_p/{id}/admin` paths, health — matched against a
/// plugin's `requires.corex` (`plugin.yaml`'s `corex_version`). Raise it when
/// Core follows a newer PowerX contract.
pub const POWERX_COMPAT_VERSION: &str = "0.7.0";

/// Runs a Core on `listener` until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish, stops plugins gracefully and returns.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = Store::connect_with(&config.database_url(), &config.store).await?;
    serve_store(config, store, listener, shutdown).await
}

/// [`serve`] over a store the caller already opened (the `powerx` binary
/// opens it first to create the first user), so Core connects only once.
pub async fn serve_store(
    config: Config,
    store: Store,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("reading the bound address")?;
    let config = Arc::new(config.with_bound_addr(addr));
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let plugins = plugins::Manager::new(config.clone(), store.clone()).await?;
    plugins.events().resume_after(
        store
            .events_max_seq()
            .await
            .context("reading the kept event stream")?,
    );
    let event_log = event_log::EventLog::spawn(
        store.clone(),
        plugins.events().clone(),
        event_log::Bounds::default(),
    );
    let lifecycle_log = lifecycle_log::spawn(plugins.events());
    plugins
        .recover()
        .await
        .context("starting installed plugins")?;
    let state = state::AppState {
        config,
        store,
        plugins: plugins.clone(),
        event_log: event_log.clone(),
        metrics: Arc::new(metrics::Metrics::new()),
        throttle: Arc::default(),
        shutdown: tokio_util::sync::CancellationToken::new(),
    };
    let pruning = retention::spawn(
        state.store.clone(),
        state.config.policy.audit.retention_days,
    );
    let closing = state.shutdown.clone();
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.cancel();
        })
        .await;
    pruning.abort();
    plugins.shutdown().await;
    lifecycle_log.abort();
    event_log.stop().await;
    served.context("serving HTTP")
}
