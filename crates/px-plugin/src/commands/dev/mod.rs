//! `px-plugin dev [DIR] [--watch] [--uninstall-on-exit]`: build, install, and
//! follow the plugin's logs; with `--watch`, rebuild and reinstall on change.

mod build;
mod render;
mod session;
mod watch;

use std::path::PathBuf;

use crate::cli::Global;
use crate::commands::install::Mode;

const EXAMPLES: &str = "\
Examples:
  px-plugin dev --watch                   Build, install, follow logs; reload on every save
  px-plugin dev hello --watch --uninstall-on-exit
  px-plugin dev --watch --json            One JSON object per line: log, event, live, report, …

Each reload prints one line:
  ↻ r5 live in 182 ms  receive 1 · validate 2 · resolve 0 · stage 3 · start 4 · health 120 · swap 0
or, when the new revision fails and the last good one keeps serving:
  ✗ r6 rolled back: health_timeout — <message>   (then the plugin's last stderr lines)
Ctrl-C stops.";

/// Develop a plugin against a running Core: build, install, follow its logs.
///
/// Installs the plugin in DIR (directory install when Core runs on this
/// machine, upload otherwise) and streams its log lines, prefixed with the
/// revision that printed them. With --watch, every saved change (debounced
/// ~100 ms; dist/, target/, .git/, node_modules/, *.pxp and other build
/// outputs ignored; unchanged content skipped) rebuilds and reinstalls; a
/// build still running when new changes arrive is cancelled and restarted.
/// A failed build or install does not end the session.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Dev {
    /// Plugin project directory
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Rebuild and reinstall when files change
    #[arg(long, short)]
    pub watch: bool,

    /// Uninstall the plugin when the session ends (Ctrl-C)
    #[arg(long)]
    pub uninstall_on_exit: bool,

    /// How Core gets the plugin (see `px-plugin install --help`)
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
}

impl Dev {
    /// Runs the session until Ctrl-C.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        crate::client::runtime()?.block_on(session::run(self, global))
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}
