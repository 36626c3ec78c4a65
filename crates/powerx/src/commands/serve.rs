//! `powerx serve`: layered config (defaults, policy file, `PX_` env, flags), then run.

use std::path::PathBuf;

use anyhow::Context;
use px_core::{Config, Policy};

use super::store_args::StoreArgs;

/// Run Core.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  powerx serve --dev\n  powerx serve --listen 0.0.0.0:8077 --policy policy.yaml\n  PX_PLUGIN_DEV_MODE=1 powerx serve --data-dir /var/lib/powerx"
)]
pub struct Serve {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "PX_LISTEN", default_value = "127.0.0.1:8077")]
    listen: String,
    /// Policy YAML file (roles, dev settings, audit retention); built-in default when absent.
    #[arg(long, env = "PX_POLICY")]
    policy: Option<PathBuf>,
    /// Turn the dev API on (also PX_PLUGIN_DEV_MODE=1 or `dev.enabled` in the policy).
    #[arg(long)]
    dev: bool,
    /// Log only warnings and errors, not a line per install, reload, rollback
    /// or restart (PX_LOG or RUST_LOG, e.g. `px_core::lifecycle=debug`, tune it finer).
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    store: StoreArgs,
}

impl Serve {
    pub async fn run(self) -> anyhow::Result<()> {
        let default = if self.quiet { "warn" } else { "info" };
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("PX_LOG")
                    .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                    .unwrap_or_else(|_| default.into()),
            )
            .with_writer(std::io::stderr)
            .init();
        let policy = match &self.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        };
        let env_dev = std::env::var("PX_PLUGIN_DEV_MODE").is_ok_and(|v| v == "1" || v == "true");
        let mut config = Config::new(&self.store.data_dir);
        config.database_url = self.store.database_url.clone();
        config.store = self.store.options();
        config.dev = self.dev || env_dev || policy.dev.enabled;
        config.policy = policy;
        px_runtime::become_subreaper().context("becoming child subreaper")?;

        let listener = tokio::net::TcpListener::bind(&self.listen)
            .await
            .with_context(|| format!("binding {}", self.listen))?;
        let addr = listener.local_addr()?;
        let store = self.store.open().await?;
        first_start(&store).await?;
        println!("listening on http://{addr}");
        println!("Admin: http://{addr}/admin");
        println!("dev mode: {}", if config.dev { "on" } else { "off" });
        px_core::serve_store(config, store, listener, shutdown_signal()).await
    }
}

/// On an empty store, creates `admin` with a one-time password and prints it.
async fn first_start(store: &px_core::Store) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let password = px_core::store::tokens::new_secret().trim_start_matches("pxt_")[..20].to_owned();
    match store.add_user("admin", "admin", Some(&password)).await {
        Ok(_) => println!("created user admin with one-time password: {password}"),
        // another Core on the same database got there first
        Err(_) if store.user_by_name("admin").await?.is_some() => {}
        Err(error) => return Err(error),
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
