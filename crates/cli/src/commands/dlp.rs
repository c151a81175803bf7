//! `bot-bottle dlp scan`.

use crate::args::DlpCommand;

pub fn run(command: DlpCommand) -> anyhow::Result<u8> {
    anyhow::bail!("not yet wired: {command:?}")
}
