//! `bot-bottle manifest show|check|schema`.

use crate::args::ManifestCommand;

pub fn run(command: ManifestCommand) -> anyhow::Result<u8> {
    anyhow::bail!("not yet wired: {command:?}")
}
