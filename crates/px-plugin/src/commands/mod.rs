//! One module per subcommand, each a `clap::Args` struct with
//! `fn run(self, global: &Global) -> anyhow::Result<()>`.

pub mod build;
pub mod completions;
pub mod dev;
pub mod install;
pub mod login;
pub mod logs;
pub mod new;
pub mod status;
pub mod uninstall;
pub mod validate;
