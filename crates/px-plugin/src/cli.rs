//! The command line: global options and the subcommands.

use clap::{Parser, Subcommand};

use crate::commands;

const ABOUT: &str = "Create, validate and build PowerX plugins";

const LONG_ABOUT: &str = "\
Create, validate and build PowerX plugins.

A plugin is a directory with a manifest.json (or PowerX's plugin.yaml). `build`
turns it into dist/ and, with --pxp, into one .pxp file that Core installs.";

const EXAMPLES: &str = "\
Examples:
  px-plugin new hello --template python     Start a plugin in ./hello
  px-plugin validate hello                  Check its manifest
  px-plugin build hello --pxp               Build hello/dist and hello/<id>-<version>.pxp
  px-plugin --json validate hello           Same check, as one JSON object

Exit codes:
  0 ok, 1 failure (invalid, rejected, rolled back), 2 usage error, 3 cannot reach Core";

/// `px-plugin`: the parsed command line.
#[derive(Debug, Parser)]
#[command(name = "px-plugin", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Options every subcommand takes, before or after its name.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const GLOBAL: &str = "Global options";

/// Options shared by every subcommand.
#[derive(Clone, clap::Args)]
pub struct Global {
    /// URL of the PowerX Core to talk to
    #[arg(long, global = true, help_heading = GLOBAL, env = "PX_CORE_URL", hide_env_values = true, default_value = "http://127.0.0.1:8077", value_name = "URL", value_parser = parse_core_url)]
    pub core: String,

    /// API token for Core (a `powerx tokens create` token); default: the saved login
    #[arg(long, global = true, help_heading = GLOBAL, env = "PX_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Print one JSON object on stdout instead of text (progress and build output go to stderr)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never in Debug output.
        f.debug_struct("Global")
            .field("core", &self.core)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("json", &self.json)
            .finish()
    }
}

fn parse_core_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() => Ok(value.trim_end_matches('/').to_owned()),
        _ => Err(format!(
            "expected an http:// or https:// URL, e.g. http://127.0.0.1:8077, found {value:?}"
        )),
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    // No doc comments on the variants: each command's own doc is its help.
    New(commands::new::New),
    Validate(commands::validate::Validate),
    Build(commands::build::Build),
    Install(commands::install::Install),
    Uninstall(commands::uninstall::Uninstall),
    Dev(commands::dev::Dev),
    Logs(commands::logs::Logs),
    Login(commands::login::Login),
    Status(commands::status::Status),
    Completions(commands::completions::Completions),
}

impl Command {
    /// Runs the chosen subcommand.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        match self {
            Command::New(cmd) => cmd.run(global),
            Command::Validate(cmd) => cmd.run(global),
            Command::Build(cmd) => cmd.run(global),
            Command::Install(cmd) => cmd.run(global),
            Command::Uninstall(cmd) => cmd.run(global),
            Command::Dev(cmd) => cmd.run(global),
            Command::Logs(cmd) => cmd.run(global),
            Command::Login(cmd) => cmd.run(global),
            Command::Status(cmd) => cmd.run(global),
            Command::Completions(cmd) => cmd.run(global),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn token_is_redacted_in_debug_output() {
        let cli = Cli::try_parse_from(["px-plugin", "--token", "s3cret", "validate"]).unwrap();
        let debug = format!("{cli:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from([
            "px-plugin",
            "--json",
            "--core",
            "http://h:1/",
            "validate",
            "x",
        ])
        .unwrap();
        let after = Cli::try_parse_from([
            "px-plugin",
            "validate",
            "x",
            "--core",
            "http://h:1/",
            "--json",
        ])
        .unwrap();
        for cli in [before, after] {
            assert!(cli.global.json);
            assert_eq!(cli.global.core, "http://h:1");
        }
        assert!(Cli::try_parse_from(["px-plugin", "--core", "ftp://h", "validate"]).is_err());
    }
}
