//! `px-plugin`: create, validate, build (and later install and hot-reload)
//! PowerX plugins.
//!
//! `main` stays thin: parse, run, print the error with its causes, and map it
//! to an exit code (see [`exit`]).

mod cli;
mod client;
mod commands;
mod diagnostics;
mod exit;
mod output;
mod templates;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors exit 2 from inside `parse` (clap's own convention, and ours).
    let cli = cli::Cli::parse();
    let json = cli.global.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_for(&err);
            output::print_error(&err);
            if json && !output::json_emitted() {
                output::emit_json(&output::error_json(&err, code));
            }
            ExitCode::from(code)
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    cli.command.run(&cli.global)
}
