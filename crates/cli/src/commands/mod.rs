//! One module per top-level command; `dispatch` routes to them.

mod completions;
mod dlp;
pub(crate) mod gitgate;
mod manifest;
pub(crate) mod proposals;
pub(crate) mod sidecar;
mod supervise;

use crate::args::{Cli, Command};

/// Run the parsed command; the `u8` is the exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Manifest(command) => manifest::run(command),
        Command::Proposals(command) => proposals::run(command),
        Command::Supervise(args) => supervise::run(&args),
        Command::Dlp(command) => dlp::run(command),
        Command::GitGate(command) => gitgate::run(command),
        Command::Completions(args) => completions::run(&args),
        Command::Sidecar(command) => sidecar::run(command),
    }
}
