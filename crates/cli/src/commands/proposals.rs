//! `bot-bottle proposals list|show|approve|reject`.

use crate::args::ProposalsCommand;

pub fn run(command: ProposalsCommand) -> anyhow::Result<u8> {
    anyhow::bail!("not yet wired: {command:?}")
}
