//! The MCP server the agent talks to (streamable HTTP at `/mcp`).
//!
//! Four tools, each turning the agent's request into a proposal in the
//! bottle's queue and waiting for the operator, with a timeout, while other
//! tool calls go on:
//!
//! | tool | proposal | on approval |
//! |---|---|---|
//! | `list-egress-routes` | none | — (reads the routes file) |
//! | `egress-allow` | `egress-allow` | the granted route is added to the routes file |
//! | `egress-block` | `egress-block` | the host's routes are dropped or narrowed |
//! | `capability-block` | `capability-block` | the operator's words are returned |
//!
//! A waiting call holds no thread: it looks for the answer every
//! [`ANSWER_POLL_INTERVAL`] (each look a short read on the blocking pool).
//! It runs as its own task, so an answer that comes after the agent stopped
//! waiting (a cancelled call, a dropped session) is still acted on — a
//! granted route still lands — until the server shuts down. At most
//! [`MAX_WAITING_CALLS`] calls wait at once, across every session: past
//! that a call is refused at once with a client error, so a runaway agent
//! cannot flood the operator's queue.
//!
//! Errors are of two kinds ([`ToolError`]): a bad request from the agent is
//! returned verbatim as a tool error (`isError: true`, the message as text),
//! which is how MCP asks clients to show input errors to the model so it can
//! fix the call — the SDK answers arguments that do not deserialize the same
//! way; an internal fault (a queue or routes-file I/O failure) is logged
//! with its cause and answered with a generic JSON-RPC `internal_error`, so
//! nothing about the sidecar's files leaks to the agent.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bot_bottle_manifest::model::{HeaderMatch, OnMatch, Route};
use bot_bottle_queue::{
    Actor, CapabilityBlock, Decision, EgressAllow, EgressBlock, Expiry, Payload, Proposal,
    ProposalId, Queue, Response,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData as McpError, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::routes_file::{Change, RoutesFile, RoutesFileError};

/// How long a tool call waits for the operator by default.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest `reason` or `text` the agent may send (the operator reads it).
pub const MAX_TEXT_BYTES: usize = 8 * 1024;
/// The most tool calls waiting for the operator at once, over all sessions.
pub const MAX_WAITING_CALLS: usize = 16;
/// How often a waiting call looks for the operator's answer.
pub const ANSWER_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What every session's calls share: the cap on calls waiting for the
/// operator, and the server's shutdown, which ends their waits (their
/// proposals stay in the queue for the next start's recovery).
#[derive(Debug)]
pub struct Waiting {
    permits: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl Waiting {
    pub fn new(shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(MAX_WAITING_CALLS)),
            shutdown,
        })
    }
}

/// What the tools need: the queue, the bottle, the routes file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub queue: Queue,
    /// The bottle named in every proposal.
    pub bottle: String,
    pub routes: RoutesFile,
    /// How long a call waits for the operator before it is refused.
    pub answer_timeout: Duration,
}

/// The two kinds of failure, answered differently (module docs).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The agent's request is wrong; the message goes back verbatim.
    #[error("{0}")]
    Client(String),
    /// Our fault; logged with its cause, answered generically.
    #[error("{context}: {source}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ToolError {
    fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }
}

impl From<ToolError> for McpError {
    fn from(error: ToolError) -> Self {
        match error {
            ToolError::Client(message) => McpError::invalid_params(message, None),
            ToolError::Internal { context, source } => {
                // The whole chain, down to the OS error, for the operator.
                let cause = crate::chain(source.as_ref());
                tracing::error!(error = %cause, "{context}");
                McpError::internal_error(
                    "internal error in the supervise sidecar; the operator can see the cause in its log",
                    None,
                )
            }
        }
    }
}

/// `egress-allow` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EgressAllowRequest {
    /// The host to reach: an exact name (`api.example.com`), optionally with
    /// `:port`, or a `*.` wildcard (`*.example.com`). Ask for the narrowest
    /// host that works.
    pub host: String,
    /// HTTP methods needed (`["GET"]`); omit for any method. Ask only for
    /// what you need: read-only access is approved more readily.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Path prefixes (`/v1/`) or globs (`/repos/*/issues`) needed; omit for
    /// every path.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Headers a request must carry to use the route (rarely needed).
    #[serde(default)]
    pub headers: Option<Vec<HeaderMatch>>,
    /// What the proxy does when it finds a secret-shaped value in a request
    /// on this route: `redact` (scrub it and forward), `block` (refuse with
    /// 403) or `supervise` (hold the request until the operator decides;
    /// the default). Prefer `redact` for APIs where such values are noise.
    #[serde(default)]
    pub outbound_on_match: Option<OnMatch>,
    /// Why you need this route, for the operator: what task, what you will
    /// fetch or send.
    pub reason: String,
    /// Not accepted: credentials are the operator's to attach.
    #[serde(default)]
    #[schemars(skip)]
    pub token_env: Option<Value>,
    #[serde(default)]
    #[schemars(skip)]
    pub auth_scheme: Option<Value>,
    #[serde(default)]
    #[schemars(skip)]
    pub auth_header: Option<Value>,
}

/// `egress-block` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EgressBlockRequest {
    /// The host whose route should be dropped or narrowed, exactly as
    /// `list-egress-routes` shows it.
    pub host: String,
    /// To narrow instead of drop: the only methods that should stay allowed.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// To narrow instead of drop: the only paths that should stay allowed.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Why, for the operator.
    pub reason: String,
}

/// `capability-block` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CapabilityBlockRequest {
    /// What you are stuck on and what would unblock you, in plain words: the
    /// task, what you tried, what failed (with the error), what you need.
    pub text: String,
}

/// The MCP server handler; one per session, all sharing [`Settings`].
#[derive(Debug, Clone)]
pub struct Supervise {
    settings: Arc<Settings>,
    waiting: Arc<Waiting>,
    tool_router: ToolRouter<Self>,
}

impl Supervise {
    /// One session's handler; `waiting` is shared by every session.
    pub fn new(settings: Arc<Settings>, waiting: Arc<Waiting>) -> Self {
        Self {
            settings,
            waiting,
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl Supervise {
    #[tool(
        name = "list-egress-routes",
        description = "List the egress routes in force: the hosts, methods and paths this bottle may reach through its HTTPS proxy, and each route's outbound_on_match policy. Everything else is denied (HTTP 403 from the proxy). Call this before egress-allow, to see whether a route already exists, and before egress-block, to name the route exactly. Credentials are never shown; a route that injects one says so.",
        annotations(read_only_hint = true)
    )]
    async fn list_egress_routes(&self) -> Result<CallToolResult, McpError> {
        respond(async {
            let routes = self.read_routes().await?;
            let routes: Vec<Value> = routes.iter().map(route_view).collect();
            Ok(json!({ "routes": routes }))
        })
        .await
    }

    #[tool(
        name = "egress-allow",
        description = "Ask the operator for a new egress route when the proxy denied a request (HTTP 403 naming the host) and your task needs that host. Give the narrowest host, methods and paths that work and a reason. The call waits until the operator answers (minutes, possibly) and returns one of: `approved` (the route you asked for is in force now; retry the request), `approved-as-modified` (the operator granted a different route, returned in `route`: use only that), `rejected` (with the operator's `reason`; do not ask again for the same thing) or `timed-out` (nobody answered; the route was not added). `outbound_on_match` sets what the proxy does if a request on the route carries a secret-shaped value: `redact`, `block` or `supervise` (default). You cannot attach credentials (token_env, auth_scheme, auth_header): say in the reason that the API needs them and the operator may add them."
    )]
    async fn egress_allow(
        &self,
        Parameters(request): Parameters<EgressAllowRequest>,
    ) -> Result<CallToolResult, McpError> {
        respond(async {
            let (route, reason) = allow_route(request)?;
            let payload = Payload::EgressAllow(EgressAllow { route, reason });
            self.ask_for_route(payload).await
        })
        .await
    }

    #[tool(
        name = "egress-block",
        description = "Ask the operator to drop an egress route, or narrow it to fewer methods or paths, when you no longer need it or it is broader than your task needs (least privilege). Name the host exactly as list-egress-routes shows it; give `methods` and/or `paths` to narrow, neither to drop. A narrowed route keeps everything else, its credential and its `outbound_on_match` policy included. Waits for the operator and returns `approved`, `approved-as-modified` (with the `route` that stays), `rejected` (with a `reason`) or `timed-out`."
    )]
    async fn egress_block(
        &self,
        Parameters(request): Parameters<EgressBlockRequest>,
    ) -> Result<CallToolResult, McpError> {
        respond(async {
            let in_force = self.read_routes().await?;
            let (host, keep, reason) = block_route(request, &in_force)?;
            let payload = Payload::EgressBlock(EgressBlock {
                host,
                route: keep,
                reason,
            });
            self.ask_for_route(payload).await
        })
        .await
    }

    #[tool(
        name = "capability-block",
        description = "Tell the operator, in words, that you are stuck on something no other tool can fix: a missing tool or package, a permission, a question only a human can answer, a decision you should not take alone. Be specific: the task, what you tried, the exact error, what would unblock you. Waits for the operator's written answer and returns it (`answered` with `text`), or `timed-out`. Use egress-allow, not this, for a denied host."
    )]
    async fn capability_block(
        &self,
        Parameters(request): Parameters<CapabilityBlockRequest>,
    ) -> Result<CallToolResult, McpError> {
        respond(async {
            let text = required_text("text", &request.text)?;
            let payload = Payload::CapabilityBlock(CapabilityBlock { text });
            self.ask(payload, |settings, proposal, response| {
                Ok(settled_view(proposal, response, None, settings))
            })
            .await
        })
        .await
    }
}

impl Supervise {
    async fn read_routes(&self) -> Result<Vec<Route>, ToolError> {
        let routes = self.settings.routes.clone();
        let contents = blocking(move || routes.read())
            .await?
            .map_err(|error| ToolError::internal("cannot read the routes file", error))?;
        Ok(contents.egress.routes)
    }

    /// File a route proposal, wait, apply what was granted, archive.
    async fn ask_for_route(&self, payload: Payload) -> Result<Value, ToolError> {
        self.ask(payload, |settings, proposal, response| {
            let granted = apply_response(settings, proposal, response)?;
            Ok(settled_view(proposal, response, granted.as_ref(), settings))
        })
        .await
    }

    /// File `payload`, wait for the answer (module docs: no thread held,
    /// its own task, capped), then `act` on it on the blocking pool and
    /// archive the proposal if that succeeded (else recovery finishes it).
    async fn ask(
        &self,
        payload: Payload,
        act: impl FnOnce(&Settings, &Proposal, &Response) -> Result<Value, ToolError> + Send + 'static,
    ) -> Result<Value, ToolError> {
        let permit = Arc::clone(&self.waiting.permits)
            .try_acquire_owned()
            .map_err(|_| {
                ToolError::Client(format!(
                    "{MAX_WAITING_CALLS} questions are already waiting for the operator; wait for their answers before asking again"
                ))
            })?;
        let settings = Arc::clone(&self.settings);
        let shutdown = self.waiting.shutdown.clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _permit = permit;
            let result = async {
                let (proposal, response) = tokio::select! {
                    settled = settings.file_and_wait(payload) => settled?,
                    () = shutdown.cancelled() => {
                        return Err(ToolError::internal(
                            "the wait for the operator",
                            std::io::Error::other("the server is shutting down"),
                        ));
                    }
                };
                let acting = Arc::clone(&settings);
                blocking(move || {
                    let result = act(&acting, &proposal, &response)?;
                    acting.archive(&proposal.id);
                    Ok(result)
                })
                .await?
            }
            .await;
            // The agent stopped waiting: nobody else will report a failure.
            if let Err(Err(error)) = answer.send(result) {
                tracing::error!(%error, "acting on the operator's answer failed after the agent stopped waiting");
            }
        });
        answered.await.map_err(|_| {
            ToolError::internal(
                "a waiting call failed",
                std::io::Error::other("its task ended without an answer"),
            )
        })?
    }
}

/// The MCP answer to a tool call: a result, a client error as a tool error
/// the model reads and can act on (the SDK answers arguments that do not
/// deserialize the same way), or an internal fault as a JSON-RPC internal
/// error that says nothing of the cause (which is logged).
async fn respond(
    work: impl Future<Output = Result<Value, ToolError>>,
) -> Result<CallToolResult, McpError> {
    match work.await {
        Ok(value) => Ok(CallToolResult::structured(value)),
        Err(ToolError::Client(message)) => {
            Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
        }
        Err(error) => Err(error.into()),
    }
}

/// Act on an answered route proposal: the route written into the routes
/// file, if any. Also used by start-up recovery, so it must be idempotent
/// (the routes file records applied ids).
pub(crate) fn apply_response(
    settings: &Settings,
    proposal: &Proposal,
    response: &Response,
) -> Result<Option<Route>, ToolError> {
    let approved = matches!(
        response.decision,
        Decision::Approve | Decision::ApproveWithModification { .. }
    );
    let change = match (&proposal.payload, response.granted_route(proposal)) {
        (_, _) if !approved => return Ok(None),
        (Payload::EgressBlock(ask), keep) => Change::Block {
            host: ask.host.clone(),
            keep: keep.cloned(),
        },
        (Payload::EgressAllow(_), Some(route)) => Change::Allow(route.clone()),
        _ => return Ok(None),
    };
    let granted = match &change {
        Change::Allow(route) => Some(route.clone()),
        Change::Block { keep, .. } => keep.clone(),
    };
    match settings.routes.apply(&proposal.id, &change) {
        Ok(outcome) => {
            tracing::info!(proposal = %proposal.id, kind = %proposal.kind(), ?outcome, "routes file updated");
            Ok(granted)
        }
        Err(RoutesFileError::Invalid { problems, .. }) => {
            // The operator granted something that cannot be in force (a
            // hand-written response file, say): not applied, and the agent
            // is told it was not granted rather than left to guess.
            tracing::error!(proposal = %proposal.id, problems = %problems.join("; "), "the granted route is invalid; nothing applied");
            Err(ToolError::internal(
                "the operator's answer could not be applied",
                problems.join("; "),
            ))
        }
        Err(error) => Err(ToolError::internal("cannot update the routes file", error)),
    }
}

impl Settings {
    /// File `payload` and wait for the answer, looking every
    /// [`ANSWER_POLL_INTERVAL`] and holding no thread between looks; a
    /// timeout expires the proposal (an operator answer that landed first
    /// still wins).
    async fn file_and_wait(&self, payload: Payload) -> Result<(Proposal, Response), ToolError> {
        let (queue, bottle) = (self.queue.clone(), self.bottle.clone());
        let proposal = self
            .queue
            .on_blocking_pool(move || queue.propose(&bottle, payload))
            .await
            .map_err(|error| ToolError::internal("cannot file the proposal", error))?;
        tracing::info!(proposal = %proposal.id, kind = %proposal.kind(), "waiting for the operator");
        let expiry = Expiry {
            reason: format!("no answer in {} s", self.answer_timeout.as_secs()),
            actor: Actor::Supervise,
        };
        let response = self
            .queue
            .await_response(
                &proposal.id,
                self.answer_timeout,
                ANSWER_POLL_INTERVAL,
                expiry,
            )
            .await
            .map_err(|error| ToolError::internal("cannot get the operator's answer", error))?;
        Ok((proposal, response))
    }

    /// Archive after acting; a failure is logged (recovery finishes it).
    fn archive(&self, id: &ProposalId) {
        if let Err(error) = self.queue.archive(id) {
            tracing::warn!(proposal = %id, %error, "cannot archive the answered proposal");
        }
    }
}

/// What the agent is told about a settled proposal.
fn settled_view(
    proposal: &Proposal,
    response: &Response,
    granted: Option<&Route>,
    settings: &Settings,
) -> Value {
    let id = proposal.id.to_string();
    match &response.decision {
        Decision::Approve => json!({
            "status": "approved",
            "proposal": id,
            "route": granted.map(route_view),
            "note": "in force now; retry the request",
        }),
        Decision::ApproveWithModification { .. } => json!({
            "status": "approved-as-modified",
            "proposal": id,
            "route": granted.map(route_view),
            "note": "the operator granted this route instead of the one asked for; use only what it allows",
        }),
        Decision::Reject => json!({
            "status": "rejected",
            "proposal": id,
            "reason": response.reason.clone().unwrap_or_else(|| "no reason given".to_string()),
        }),
        Decision::Expired => json!({
            "status": "timed-out",
            "proposal": id,
            "note": format!(
                "no answer from the operator within {} s; nothing was granted",
                settings.answer_timeout.as_secs()
            ),
        }),
        Decision::Answer { text } => json!({
            "status": "answered",
            "proposal": id,
            "text": text,
        }),
    }
}

/// A route as the agent sees it: never a token, only whether one is
/// injected (and under which variable, which is not secret).
fn route_view(route: &Route) -> Value {
    let mut value = json!({ "host": route.host });
    if let Some(methods) = &route.methods {
        value["methods"] = json!(methods);
    }
    if let Some(paths) = &route.paths {
        value["paths"] = json!(paths);
    }
    if let Some(headers) = &route.headers {
        value["headers"] = json!(
            headers
                .iter()
                .map(|header| json!({ "name": header.name, "value": header.value }))
                .collect::<Vec<_>>()
        );
    }
    if route.token_env.is_some() {
        value["credential"] = json!("injected by the proxy");
    }
    value["outbound_on_match"] = json!(route.outbound_on_match.unwrap_or(OnMatch::Supervise));
    value
}

/// Check an `egress-allow` request; the route asked for and the reason.
fn allow_route(request: EgressAllowRequest) -> Result<(Route, String), ToolError> {
    for (field, present) in [
        ("token_env", request.token_env.is_some()),
        ("auth_scheme", request.auth_scheme.is_some()),
        ("auth_header", request.auth_header.is_some()),
    ] {
        if present {
            return Err(ToolError::Client(format!(
                "`{field}` cannot be requested: credentials are attached by the operator. Ask for the route without it and say in `reason` that the API needs credentials."
            )));
        }
    }
    let reason = required_text("reason", &request.reason)?;
    let route = Route {
        host: request.host.trim().to_ascii_lowercase(),
        methods: request.methods.map(|methods| {
            methods
                .iter()
                .map(|m| m.trim().to_ascii_uppercase())
                .collect()
        }),
        paths: request.paths,
        headers: request.headers,
        outbound_on_match: request.outbound_on_match,
        ..Route::default()
    };
    check_route(&route)?;
    Ok((route, reason))
}

/// Check an `egress-block` request against the routes in force.
fn block_route(
    request: EgressBlockRequest,
    in_force: &[Route],
) -> Result<(String, Option<Route>, String), ToolError> {
    let reason = required_text("reason", &request.reason)?;
    let host = request.host.trim().to_ascii_lowercase();
    let Some(current) = in_force
        .iter()
        .find(|route| route.host.eq_ignore_ascii_case(&host))
    else {
        return Err(ToolError::Client(format!(
            "no route for `{}` is in force; list-egress-routes shows the routes",
            request.host.escape_debug()
        )));
    };
    if request.methods.is_none() && request.paths.is_none() {
        return Ok((host, None, reason));
    }
    // Narrowing keeps everything else about the route (its credential,
    // its policy): the agent only takes methods or paths away.
    let mut keep = current.clone();
    if let Some(methods) = request.methods {
        keep.methods = Some(
            methods
                .iter()
                .map(|m| m.trim().to_ascii_uppercase())
                .collect(),
        );
    }
    if let Some(paths) = request.paths {
        keep.paths = Some(paths);
    }
    check_route(&keep)?;
    Ok((host, Some(keep), reason))
}

fn check_route(route: &Route) -> Result<(), ToolError> {
    let problems = crate::granted_route::route_problems(route);
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(ToolError::Client(format!(
        "not a valid route: {}",
        text.join("; ")
    )))
}

fn required_text(field: &str, text: &str) -> Result<String, ToolError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ToolError::Client(format!(
            "`{field}` is empty: say it in words for the operator"
        )));
    }
    if trimmed.len() > MAX_TEXT_BYTES {
        return Err(ToolError::Client(format!(
            "`{field}` is {} bytes; keep it under {MAX_TEXT_BYTES}",
            trimmed.len()
        )));
    }
    Ok(trimmed.to_string())
}

/// Run blocking queue work off the async pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ToolError::internal("a blocking task failed", error))
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Supervise {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "bot-bottle supervise: you run in a bottle whose network is default-deny. When the egress proxy refuses a host (HTTP 403), ask for a route with egress-allow; drop routes you no longer need with egress-block; when you are stuck on anything else, tell the operator with capability-block. Each call waits for a human and may take minutes.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ask(
        host: String,
        methods: Option<Vec<String>>,
        paths: Option<Vec<String>>,
        reason: String,
    ) -> EgressAllowRequest {
        EgressAllowRequest {
            host,
            methods,
            paths,
            headers: None,
            outbound_on_match: None,
            reason,
            token_env: None,
            auth_scheme: None,
            auth_header: None,
        }
    }

    proptest! {
        /// Whatever the agent sends, the checks answer with a route the
        /// manifest rules accept or a client error — never a panic, never
        /// an internal error.
        #[test]
        fn any_allow_request_is_a_valid_route_or_a_client_error(
            host in any::<String>(),
            methods in proptest::option::of(proptest::collection::vec(any::<String>(), 0..3)),
            paths in proptest::option::of(proptest::collection::vec(any::<String>(), 0..3)),
            reason in any::<String>(),
        ) {
            match allow_route(ask(host, methods, paths, reason)) {
                Ok((route, reason)) => {
                    prop_assert!(bot_bottle_manifest::validate::validate_route(&route).is_empty());
                    prop_assert!(!reason.trim().is_empty());
                    prop_assert!(route.token_env.is_none() && route.auth_header.is_none());
                }
                Err(error) => prop_assert!(matches!(error, ToolError::Client(_))),
            }
        }

        #[test]
        fn any_block_request_narrows_only_a_route_in_force(
            host in any::<String>(),
            paths in proptest::option::of(proptest::collection::vec(any::<String>(), 0..3)),
        ) {
            let in_force = vec![Route {
                host: "api.example.com".into(),
                token_env: Some("EGRESS_TOKEN_API".into()),
                outbound_on_match: Some(OnMatch::Redact),
                ..Route::default()
            }];
            let request = EgressBlockRequest { host, methods: None, paths, reason: "x".into() };
            match block_route(request, &in_force) {
                Ok((host, keep, _)) => {
                    prop_assert_eq!(host.as_str(), "api.example.com");
                    if let Some(keep) = keep {
                        // Narrowing keeps the credential, the policy and
                        // the host.
                        prop_assert_eq!(keep.host.as_str(), "api.example.com");
                        prop_assert_eq!(keep.token_env.as_deref(), Some("EGRESS_TOKEN_API"));
                        prop_assert_eq!(keep.outbound_on_match, Some(OnMatch::Redact));
                    }
                }
                Err(error) => prop_assert!(matches!(error, ToolError::Client(_))),
            }
        }
    }

    #[test]
    fn credentials_cannot_be_asked_for() {
        let mut request = ask("api.example.com".into(), None, None, "x".into());
        request.token_env = Some(Value::String("EGRESS_TOKEN_API".into()));
        let Err(ToolError::Client(message)) = allow_route(request) else {
            panic!("token_env must be refused");
        };
        assert!(message.contains("token_env"), "{message}");
    }
}
