//! `bot-bottle supervise`: the operator's terminal UI over every bottle's
//! queue — pending proposals first, the details of each kind, and keys to
//! approve, modify, reject or answer, with a reason prompt where the kind
//! needs one.
//!
//! - `app`: the state machine and key handling (pure; unit-tested).
//! - `input`: the one-line prompt and the multi-line route editor.
//! - `view`: drawing a frame from the state (snapshot-tested on ratatui's
//!   `TestBackend`).
//! - `run`: the terminal loop — polling the queues, writing answers,
//!   restoring the terminal on every exit path.
//!
//! The library reads no environment: the CLI passes the queues to show and
//! the operator's name ([`Options`]).

pub mod app;
pub mod input;
mod run;
pub mod view;

pub use run::{Options, POLL_INTERVAL, QueueSource, load, restore_terminal, run};

/// Why the TUI stopped other than by the operator quitting.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("cannot {operation} the terminal")]
    Terminal {
        operation: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl TuiError {
    fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Terminal { operation, source }
    }

    /// A short stable name for the kind of failure, for the log line's
    /// `error_type` (`terminal`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Terminal { .. } => "terminal",
        }
    }
}
