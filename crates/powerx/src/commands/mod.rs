//! Subcommands of `powerx`, one file each.

mod serve;
mod store_args;
mod tokens;
mod users;

use std::sync::LazyLock;

use clap::{Parser, Subcommand};

/// What `powerx --version` prints after the name: Core's version and the
/// PowerX version whose plugin contract it implements.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (PowerX-compatible {})",
        px_core::VERSION,
        px_core::POWERX_COMPAT_VERSION
    )
});

/// PowerX Core: the server that runs plugins, with its Admin UI.
#[derive(Debug, Parser)]
#[command(name = "powerx", version = VERSION.as_str(), about, long_about = None)]
#[command(
    after_help = "Examples:\n  powerx serve --dev                     run Core with the dev API on\n  powerx users add alice --role plugin-developer\n  powerx tokens create --user alice      print a new API token for alice"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Core (HTTP API, plugin runtime, Admin).
    Serve(serve::Serve),
    /// Manage users in the store.
    #[command(subcommand)]
    Users(users::Users),
    /// Manage API tokens in the store.
    #[command(subcommand)]
    Tokens(tokens::Tokens),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        match self.command {
            Command::Serve(cmd) => runtime.block_on(cmd.run()),
            Command::Users(cmd) => runtime.block_on(cmd.run()),
            Command::Tokens(cmd) => runtime.block_on(cmd.run()),
        }
    }
}
