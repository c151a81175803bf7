//! The `bot-bottle` binary: the operator's CLI and every sidecar's entrypoint.
//!
//! This crate is wiring only: `args` holds the clap types, `commands/*` turn
//! parsed arguments into library calls, `logging` sets up `tracing`, and
//! `exit` maps errors to the documented exit codes.

mod args;
mod commands;
mod environment;
mod exit;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help/version to stdout (exit 0) and usage errors to
            // stderr (exit 2).
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    logging::init();
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = exit::code_for(&error);
            tracing::error!("{error:#}");
            ExitCode::from(code)
        }
    }
}
