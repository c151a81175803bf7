//! `bot-bottle sidecar egress|git-gate|supervise`: the entrypoints of the
//! sidecars inside a bottle.
//!
//! Wiring only: read the arguments and the environment once, load the
//! configuration (a bad one exits with 64 before anything listens), start
//! the library's `run` on a tokio runtime, and stop it on SIGTERM or SIGINT
//! (in-flight requests drain for the library's grace period).
//!
//! The clap types live here rather than in `args.rs` so the sidecar's
//! options sit next to the only code that reads them; `args.rs` names
//! [`SidecarCommand`] in one variant.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use bot_bottle_dlp::{HeldSecret, Scanner, ScannerConfig};
use bot_bottle_egress::ca::CertificateAuthority;
use bot_bottle_egress::dlp_inspector::{DlpInspector, DlpState};
use bot_bottle_egress::queue_holds::{DEFAULT_HOLD_TIMEOUT, QueueHolds};
use bot_bottle_egress::routes::{RouteTable, Tokens};
use bot_bottle_egress::upstream::ResolvePin;
use bot_bottle_queue::{Actor, Queue};
use bot_bottle_secret::Redacted;
use clap::{Args, Subcommand};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tracing::Instrument as _;

use crate::environment;
use crate::exit::{self, Failure};

#[derive(Debug, Subcommand)]
pub enum SidecarCommand {
    /// The HTTPS egress proxy: default-deny routes, TLS interception,
    /// credential injection. Tokens come from `EGRESS_TOKEN_*`.
    Egress(EgressArgs),
    /// The git gate: serves mirrors over git smart HTTP, scans pushed
    /// commits, holds the upstream credentials (`token_env` variables).
    GitGate(crate::commands::gitgate::SidecarArgs),
    /// The supervise MCP server (streamable HTTP at `/mcp`): the agent's
    /// tools to ask the operator for routes and help.
    Supervise(SuperviseArgs),
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The bottle's proposal queue (created if absent); the bottle is
    /// named after the directory.
    #[arg(long, value_name = "DIR")]
    pub queue: PathBuf,
    /// The egress routes file this sidecar rewrites on an approved
    /// `egress-allow` / `egress-block` (the egress sidecar reloads it).
    #[arg(long, value_name = "FILE")]
    pub routes: PathBuf,
    /// Address to listen on (`0.0.0.0:8081`; port 0 picks one, logged).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A name the agent reaches this server by (`supervise`,
    /// `supervise:8081`), accepted in the `Host` header besides loopback.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Seconds a tool call waits for the operator before it is refused.
    #[arg(long, value_name = "SECONDS", default_value_t = bot_bottle_supervise::DEFAULT_ANSWER_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub answer_timeout: u64,
}

#[derive(Debug, Args)]
pub struct EgressArgs {
    /// Routes file: YAML in the schema of a manifest's `egress:` section;
    /// re-read when it changes.
    #[arg(long, value_name = "FILE")]
    pub routes: PathBuf,
    /// Address to listen on (`0.0.0.0:8080`; port 0 picks one, logged).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Directory holding `ca.pem` and `ca.key` (created if absent).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: PathBuf,
    /// Extra PEM roots trusted for upstream TLS (system roots stay trusted).
    #[arg(long = "upstream-ca", value_name = "PEM")]
    pub upstream_ca: Vec<PathBuf>,
    /// Pin HOST:PORT to ADDRESS, as curl's --resolve (the address-policy
    /// refusal of private addresses does not apply to a pin).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<ResolvePin>,
    /// The bottle's proposal queue: held requests become
    /// `egress-token-allow` proposals here (without it, holds are refused).
    #[arg(long, value_name = "DIR")]
    pub queue: Option<PathBuf>,
    /// The bottle's name, on every log line (`bottle=NAME`) and in
    /// proposals; default: the queue directory's name.
    #[arg(long, value_name = "NAME")]
    pub bottle: Option<String>,
}

pub fn run(command: SidecarCommand) -> anyhow::Result<u8> {
    match command {
        SidecarCommand::Egress(arguments) => egress(arguments),
        SidecarCommand::GitGate(arguments) => crate::commands::gitgate::sidecar(arguments),
        SidecarCommand::Supervise(arguments) => supervise(arguments),
    }
}

fn supervise(arguments: SuperviseArgs) -> anyhow::Result<u8> {
    let queue = Queue::create(&arguments.queue)
        .with_context(|| format!("cannot open the queue {}", arguments.queue.display()))
        .map_err(config_error)?;
    let routes = bot_bottle_supervise::routes_file::RoutesFile::new(&arguments.routes);
    // A routes file that cannot be read now would fail every approval later.
    routes
        .read()
        .with_context(|| format!("--routes {}", arguments.routes.display()))
        .map_err(config_error)?;
    let settings = bot_bottle_supervise::Settings {
        bottle: bottle_name(&arguments.queue),
        queue,
        routes,
        answer_timeout: std::time::Duration::from_secs(arguments.answer_timeout),
    };
    let config = bot_bottle_supervise::Config {
        settings,
        allowed_hosts: arguments.allow_host,
    };
    block_on(async move {
        let listener = bind(arguments.listen).await?;
        bot_bottle_supervise::run(listener, config, termination())
            .await
            .context("the supervise sidecar failed")
    })?;
    Ok(exit::SUCCESS)
}

/// A bottle's queue directory is named after the bottle.
fn bottle_name(queue: &std::path::Path) -> String {
    queue
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bottle".to_string())
}

pub(crate) fn config_error(error: impl Into<anyhow::Error>) -> anyhow::Error {
    Failure::config(format!("{:#}", error.into()))
}

fn egress(arguments: EgressArgs) -> anyhow::Result<u8> {
    // One crypto provider for the whole process, before any TLS object.
    let _ = rustls::crypto::ring::default_provider().install_default();

    // The environment is read once, here; the library gets a typed map.
    let tokens: Tokens = environment::held_secrets()
        .into_iter()
        .map(|(name, value)| (name, Redacted::new(value)))
        .collect();
    let routes = RouteTable::load(&arguments.routes, &tokens).map_err(config_error)?;
    let ca = CertificateAuthority::load_or_create(&arguments.ca_dir).map_err(config_error)?;
    let mut upstream_roots: Vec<CertificateDer<'static>> = Vec::new();
    for path in &arguments.upstream_ca {
        let before = upstream_roots.len();
        for certificate in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read --upstream-ca {}", path.display()))
            .map_err(config_error)?
        {
            upstream_roots.push(
                certificate
                    .with_context(|| {
                        format!("--upstream-ca {} holds a bad certificate", path.display())
                    })
                    .map_err(config_error)?,
            );
        }
        if upstream_roots.len() == before {
            return Err(Failure::config(format!(
                "--upstream-ca {} holds no certificate",
                path.display()
            )));
        }
    }

    let scanner = egress_scanner(&routes, &tokens)?;
    let hold_timeout = environment::egress_token_allow_timeout()
        .map_err(|text| {
            Failure::config(format!(
                "{} must be a whole number of seconds, not {text:?}",
                environment::EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS
            ))
        })?
        .unwrap_or(DEFAULT_HOLD_TIMEOUT);
    let state = DlpState::new(scanner);
    let bottle = arguments
        .bottle
        .clone()
        .or_else(|| arguments.queue.as_deref().map(bottle_name));
    let holds: Option<QueueHolds> = match &arguments.queue {
        Some(dir) => Some(egress_queue(
            dir,
            bottle.clone().unwrap_or_else(|| bottle_name(dir)),
            hold_timeout,
            Arc::clone(&state),
        )?),
        None => None,
    };

    let mut config =
        bot_bottle_egress::Config::new(arguments.routes.clone(), routes, tokens, Arc::new(ca));
    config.upstream_roots = upstream_roots;
    config.resolve = arguments.resolve;
    config.inspector = Arc::new(DlpInspector::new(state));
    if let Some(holds) = holds {
        config.holds = Arc::new(holds);
    }

    // Every line the proxy logs names its bottle, when it has one.
    let span = match &bottle {
        Some(bottle) => tracing::info_span!("egress", bottle = %bottle),
        None => tracing::Span::none(),
    };
    block_on(
        async move {
            let listener = bind(arguments.listen).await?;
            bot_bottle_egress::run(listener, config, termination())
                .await
                .context("the egress proxy failed")
        }
        .instrument(span),
    )?;
    Ok(exit::SUCCESS)
}

/// The outbound DLP scanner: every held secret, and the routes file's
/// `dlp.outbound_detectors` (default: every detector but entropy; checked
/// when the routes were compiled, and followed on every reload).
fn egress_scanner(routes: &RouteTable, tokens: &Tokens) -> anyhow::Result<Scanner> {
    let detectors = routes.detectors();
    let held = tokens
        .iter()
        .map(|(name, value)| HeldSecret::new(name.clone(), value.expose().clone()))
        .collect();
    Scanner::new(ScannerConfig {
        held,
        detectors,
        ..ScannerConfig::default()
    })
    .context("cannot build the DLP scanner")
    .map_err(config_error)
}

/// Open (or create) the queue, settle what a previous run left (its held
/// requests are gone: pending proposals are expired), and build the
/// resolver, filing proposals for `bottle`.
fn egress_queue(
    dir: &std::path::Path,
    bottle: String,
    timeout: std::time::Duration,
    state: Arc<DlpState>,
) -> anyhow::Result<QueueHolds> {
    let queue = Queue::create(dir)
        .with_context(|| format!("cannot open the queue {}", dir.display()))
        .map_err(config_error)?;
    match queue.recover(Actor::Egress) {
        Ok(recovery) => {
            for answered in recovery.answered {
                if let Err(error) = queue.archive(&answered.proposal.id) {
                    tracing::warn!(%error, "cannot archive an answered proposal");
                }
            }
            for pending in recovery.pending {
                let expired =
                    queue.expire(&pending.id, "the egress sidecar restarted", Actor::Egress);
                if let Err(error) = expired.and_then(|_| queue.archive(&pending.id)) {
                    tracing::warn!(%error, "cannot expire a proposal left by the last run");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot recover the queue"),
    }
    Ok(QueueHolds::new(queue, bottle, timeout, state))
}

/// Run a sidecar's future on a multi-threaded runtime.
pub(crate) fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// Listen on `address`; failing to is a configuration error (exit 64).
pub(crate) async fn bind(address: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
        .map_err(config_error)
}

/// Completes on SIGTERM or SIGINT: the shutdown signal of every sidecar.
pub(crate) async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!(%error, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
