//! One module per subcommand, each a `clap::Args` struct with
//! `fn run(self, global: &Global) -> anyhow::Result<()>`.

pub mod build;
pub mod new;
pub mod validate;
