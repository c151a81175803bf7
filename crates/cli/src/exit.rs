//! Exit codes, documented in the README.
//!
//! 0 success; 1 the thing checked is bad (an invalid manifest, no such
//! proposal, DLP findings); 2 a usage error; 64 bad configuration for a
//! daemon (a sidecar refusing to start).

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The thing checked is bad: an invalid manifest, no such proposal, findings.
pub const BAD: u8 = 1;
/// The command line itself was wrong.
pub const USAGE: u8 = 2;
/// A daemon (sidecar) was given a configuration it cannot run with.
pub const CONFIG: u8 = 64;

/// An error that carries its own exit code. Commands wrap a failure in this
/// when it is not the default [`BAD`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Self {
            code: USAGE,
            message: message.into(),
        })
    }

    pub fn config(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Self {
            code: CONFIG,
            message: message.into(),
        })
    }
}

/// The exit code for an error that reached `main`: the code of the first
/// [`Failure`] in the chain, else [`BAD`].
pub fn code_for(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failure>().map(|failure| failure.code))
        .unwrap_or(BAD)
}
