//! `px-plugin login [--token TOKEN]`

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use owo_colors::OwoColorize as _;
use serde_json::json;

use crate::cli::Global;
use crate::client::CoreClient;
use crate::client::saved::{self, Login as SavedLogin};
use crate::exit::CliError;
use crate::output::{self, outln};

const EXAMPLES: &str = "\
Examples:
  px-plugin login                                  Paste a token (input hidden)
  powerx tokens create --user me | px-plugin login Read it from stdin
  px-plugin --core http://core:8077 login --token T

Create a token with `powerx tokens create --user NAME`, or on Admin's guide page.";

/// Check a Core token and save it with the Core URL for later commands.
///
/// The token comes from --token (or PX_TOKEN), else from a hidden prompt on a
/// terminal, else from the first line of stdin. It is checked against Core
/// (GET /api/me) and saved, readable only by you, in
/// $XDG_CONFIG_HOME/powerx/cli.json (default ~/.config/powerx/cli.json).
/// Later commands use it when --token and PX_TOKEN are absent.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Login {}

impl Login {
    /// Reads, checks and saves the token.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let token = match &global.token {
            Some(token) => token.clone(),
            None => read_token()?,
        };
        let token = token.trim().to_owned();
        if token.is_empty() {
            return Err(CliError::Usage("no token given".into()).into());
        }
        let core = CoreClient::new(CoreClient::from_global(global)?.url(), Some(token.clone()));
        let me = crate::client::runtime()?
            .block_on(core.me())
            .with_context(|| format!("checking the token against {}", core.url()))?;
        let path = saved::save(&SavedLogin {
            core_url: core.url().to_owned(),
            token,
        })?;
        let can_dev = me.permissions.iter().any(|p| p == "*" || p == "plugin:dev");
        if global.json {
            output::emit_json(&json!({
                "ok": true,
                "core_url": core.url(),
                "actor": me.actor,
                "permissions": me.permissions,
                "saved": path,
            }));
            return Ok(());
        }
        output::success(format_args!(
            "logged in to {} as {}",
            core.url(),
            me.actor.bold()
        ));
        outln!("  {} {}", "permissions".dimmed(), me.permissions.join(", "));
        outln!("  {}       {}", "saved".dimmed(), path.display());
        if !can_dev {
            outln!(
                "  {} this token lacks plugin:dev: install and dev will be refused",
                "note:".yellow()
            );
        }
        Ok(())
    }
}

/// A token from a hidden prompt on a terminal, else the first line of stdin.
fn read_token() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the token from stdin")?;
        return Ok(line);
    }
    eprint!("Core token: ");
    let _ = std::io::stderr().flush();
    let echo = EchoOff::new(&stdin);
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo);
    eprintln!();
    read.context("reading the token")?;
    Ok(line)
}

/// Turns terminal echo off while alive.
struct EchoOff<'a> {
    stdin: &'a std::io::Stdin,
    saved: Option<nix::sys::termios::Termios>,
}

impl<'a> EchoOff<'a> {
    fn new(stdin: &'a std::io::Stdin) -> EchoOff<'a> {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        let saved = tcgetattr(stdin).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = tcsetattr(stdin, SetArg::TCSANOW, &quiet);
        }
        EchoOff { stdin, saved }
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ =
                nix::sys::termios::tcsetattr(self.stdin, nix::sys::termios::SetArg::TCSANOW, saved);
        }
    }
}
