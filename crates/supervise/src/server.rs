//! The supervise sidecar's HTTP server: the MCP service at [`MCP_PATH`],
//! start-up recovery of the queue, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use bot_bottle_queue::{Actor, QueueError};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::mcp::{Settings, Supervise, Waiting, apply_response};

/// Where the MCP service is served.
pub const MCP_PATH: &str = "/mcp";

/// Everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    /// Extra names the agent may use to reach the server (`supervise`,
    /// `supervise:8080`): the `Host` header is checked against loopback
    /// names and these, against DNS rebinding.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the listening address")]
    LocalAddress(#[source] std::io::Error),
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("cannot recover the queue {path}")]
    Recover {
        path: std::path::PathBuf,
        #[source]
        source: QueueError,
    },
}

/// Serve until `shutdown` completes; in-flight calls are cancelled then
/// (a waiting call's proposal stays in the queue and is expired by the
/// next start's [`recover`]).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let address = listener.local_addr().map_err(ServerError::LocalAddress)?;
    let settings = Arc::new(config.settings);
    let recovered = {
        let settings = Arc::clone(&settings);
        tokio::task::spawn_blocking(move || recover(&settings))
            .await
            .map_err(|error| ServerError::Serve(std::io::Error::other(error)))??
    };
    if recovered > 0 {
        tracing::info!(
            proposals = recovered,
            "settled proposals left by the last run"
        );
    }
    let cancel = CancellationToken::new();
    let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(String::from)
        .collect();
    allowed_hosts.extend(config.allowed_hosts);
    let waiting = Waiting::new(cancel.child_token());
    let service = StreamableHttpService::new(
        {
            let settings = Arc::clone(&settings);
            move || Ok(Supervise::new(Arc::clone(&settings), Arc::clone(&waiting)))
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(allowed_hosts)
            .with_cancellation_token(cancel.child_token()),
    );
    let router = axum::Router::new().nest_service(MCP_PATH, service);
    tracing::info!(address = %address, path = MCP_PATH, "supervise listening");
    let stop = cancel.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await
        .map_err(ServerError::Serve)?;
    tracing::info!("supervise stopped");
    Ok(())
}

/// Settle what a previous run left in the queue: answered proposals are
/// acted on (idempotently) and archived; pending ones are expired, since
/// the tool call that waited for them is gone. Returns how many.
pub fn recover(settings: &Settings) -> Result<usize, ServerError> {
    let queue = &settings.queue;
    let recovery = queue
        .recover(Actor::Supervise)
        .map_err(|source| ServerError::Recover {
            path: queue.dir().to_path_buf(),
            source,
        })?;
    let mut settled = 0;
    for answered in recovery.answered {
        let proposal = &answered.proposal;
        match apply_response(settings, proposal, &answered.response) {
            Ok(_) => {
                if let Err(error) = queue.archive(&proposal.id) {
                    tracing::warn!(proposal = %proposal.id, %error, "cannot archive a recovered proposal");
                }
                settled += 1;
            }
            Err(error) => {
                tracing::error!(proposal = %proposal.id, %error, "cannot act on a recovered answer; left in the queue");
            }
        }
    }
    for pending in recovery.pending {
        let expired = queue.expire(
            &pending.id,
            "the supervise sidecar restarted",
            Actor::Supervise,
        );
        match expired.and_then(|_| queue.archive(&pending.id)) {
            Ok(()) => settled += 1,
            Err(error) => {
                tracing::warn!(proposal = %pending.id, %error, "cannot expire a proposal left by the last run")
            }
        }
    }
    Ok(settled)
}
