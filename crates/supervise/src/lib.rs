//! supervise: the approval loop between a bottled agent and its operator.
//!
//! - [`mcp`]: the MCP tools (streamable HTTP at `/mcp`) the agent asks for
//!   routes and help with; each request becomes a proposal in the bottle's
//!   queue and waits for the operator's answer.
//! - [`server`]: the sidecar's HTTP server, start-up recovery, shutdown.
//! - [`routes_file`]: applies an approved `egress-allow` / `egress-block` to
//!   the egress routes file, atomically, so the egress sidecar reloads it.
//! - [`tui`]: `bot-bottle supervise`, the operator's terminal UI over every
//!   bottle's queue.
//! - [`escape`], [`granted_route`]: shared with the `proposals` CLI — text
//!   from queue files made safe for a terminal, and the operator's modified
//!   route parsed and checked.

pub mod escape;
pub mod granted_route;
pub mod mcp;
pub mod routes_file;
pub mod server;
pub mod tui;

pub use mcp::{DEFAULT_ANSWER_TIMEOUT, Settings};
pub use server::{Config, MCP_PATH, ServerError, run};

/// An error and its causes on one line (`top: cause: … : the OS's word`),
/// for the operator's log and the TUI's status line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
