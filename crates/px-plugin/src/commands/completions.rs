//! `px-plugin completions SHELL`

use clap::CommandFactory as _;

use crate::cli::{Cli, Global};

/// Print a shell completion script.
///
/// For example: `px-plugin completions bash > ~/.local/share/bash-completion/completions/px-plugin`
/// or `px-plugin completions zsh > "${fpath[1]}/_px-plugin"`.
#[derive(Debug, clap::Args)]
pub struct Completions {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Completions {
    /// Writes the script to stdout.
    pub fn run(self, _global: &Global) -> anyhow::Result<()> {
        let mut command = Cli::command();
        clap_complete::generate(
            self.shell,
            &mut command,
            "px-plugin",
            &mut std::io::stdout(),
        );
        Ok(())
    }
}
