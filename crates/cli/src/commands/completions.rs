//! `bot-bottle completions SHELL`.

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};
use crate::exit;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "bot-bottle",
        &mut std::io::stdout(),
    );
    Ok(exit::SUCCESS)
}
