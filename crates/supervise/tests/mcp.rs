//! The supervise MCP server driven by the official SDK's client over
//! streamable HTTP on loopback, with a real queue directory and routes file.
//! The test plays the operator by answering proposals in the queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::{Decision, Proposal, ProposalKind, Queue, Scope};
use bot_bottle_supervise::routes_file::RoutesFile;
use bot_bottle_supervise::{Config, Settings};
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, ErrorCode};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

struct Harness {
    _dir: tempfile::TempDir,
    queue_dir: PathBuf,
    routes: PathBuf,
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start(routes_text: &str, answer_timeout: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let queue_dir = dir.path().join("queues").join("dev");
        let routes = dir.path().join("routes").join("routes.yaml");
        std::fs::create_dir_all(routes.parent().unwrap()).unwrap();
        std::fs::write(&routes, routes_text).unwrap();
        let settings = Settings {
            queue: Queue::create(&queue_dir).unwrap(),
            bottle: "dev".into(),
            routes: RoutesFile::new(&routes),
            answer_timeout,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            bot_bottle_supervise::run(
                listener,
                Config {
                    settings,
                    allowed_hosts: Vec::new(),
                },
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
        });
        Self {
            _dir: dir,
            queue_dir,
            routes,
            address,
            stop: Some(stop),
            server,
        }
    }

    async fn client(&self) -> RunningService<RoleClient, ClientConfig> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("http://{}/mcp", self.address)),
        );
        ClientConfig::default().serve(transport).await.unwrap()
    }

    fn queue(&self) -> Queue {
        Queue::open(&self.queue_dir).unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.server)
            .await
            .expect("the server stops on shutdown")
            .unwrap();
    }
}

type Client = Arc<RunningService<RoleClient, ClientConfig>>;

/// Start a call that will wait for the operator; its answer later.
fn spawn_call(
    client: &Client,
    tool: &'static str,
    arguments: Value,
) -> tokio::task::JoinHandle<Result<Value, Failure>> {
    let client = Arc::clone(client);
    tokio::spawn(async move { call(&client, tool, arguments).await })
}

/// How a call failed, as the agent's client sees it.
#[derive(Debug)]
enum Failure {
    /// A tool error (`isError: true`): its text, which the model reads.
    Tool(String),
    /// A JSON-RPC error.
    Rpc(ErrorCode, String),
}

async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &str,
    arguments: Value,
) -> Result<Value, Failure> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    let result: CallToolResult = match client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
    {
        Ok(result) => result,
        Err(ServiceError::McpError(data)) => {
            return Err(Failure::Rpc(data.code, data.message.to_string()));
        }
        Err(other) => panic!("transport failure: {other}"),
    };
    if result.is_error == Some(true) {
        let text = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|text| text.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Failure::Tool(text));
    }
    Ok(result.structured_content.expect("structured result"))
}

/// Wait for `count` pending proposals; newest last.
async fn pending(queue_dir: &Path, count: usize) -> Vec<Proposal> {
    let queue = Queue::open(queue_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listing = queue.list(Scope::Active).unwrap();
        let waiting: Vec<Proposal> = listing
            .entries
            .into_iter()
            .filter(|entry| entry.response.is_none())
            .map(|entry| entry.proposal)
            .collect();
        if waiting.len() >= count {
            return waiting;
        }
        assert!(Instant::now() < deadline, "no proposal was filed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn routes_in(path: &Path) -> Vec<Route> {
    RoutesFile::new(path).read().unwrap().egress.routes
}

fn processed(queue_dir: &Path, proposal: &Proposal) -> bool {
    queue_dir
        .join("processed")
        .join(format!("{}.response.json", proposal.id))
        .exists()
        && !queue_dir
            .join(format!("{}.proposal.json", proposal.id))
            .exists()
}

const ROUTES: &str = "log: meta\nroutes:\n  - host: api.anthropic.com\n    auth_scheme: Bearer\n    token_env: EGRESS_TOKEN_ANTHROPIC\n    outbound_on_match: redact\n  - host: pypi.org\n    methods: [GET, HEAD]\n";

#[tokio::test]
async fn lists_the_four_tools_with_descriptions_for_a_model() {
    let harness = Harness::start(ROUTES, Duration::from_secs(5)).await;
    let client = harness.client().await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|tool| tool.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "capability-block",
            "egress-allow",
            "egress-block",
            "list-egress-routes"
        ]
    );
    let allow = tools
        .iter()
        .find(|tool| tool.name == "egress-allow")
        .unwrap();
    let description = allow.description.as_deref().unwrap();
    assert!(description.contains("outbound_on_match"), "{description}");
    let block = tools
        .iter()
        .find(|tool| tool.name == "egress-block")
        .unwrap();
    let description = block.description.as_deref().unwrap();
    assert!(description.contains("outbound_on_match"), "{description}");
    let schema = serde_json::to_string(&allow.input_schema).unwrap();
    assert!(schema.contains("\"reason\""), "{schema}");
    assert!(
        schema.contains("redact"),
        "the policy's values are in the schema: {schema}"
    );
    assert!(
        !schema.contains("token_env"),
        "credentials are not offered: {schema}"
    );
    client.cancel().await.unwrap();
    harness.stop().await;
}

#[tokio::test]
async fn list_egress_routes_shows_routes_and_never_a_credential() {
    let harness = Harness::start(ROUTES, Duration::from_secs(5)).await;
    let client = harness.client().await;
    let routes = call(&client, "list-egress-routes", json!({}))
        .await
        .unwrap();
    assert_eq!(
        routes,
        json!({"routes": [
            {"host": "api.anthropic.com", "credential": "injected by the proxy", "outbound_on_match": "redact"},
            {"host": "pypi.org", "methods": ["GET", "HEAD"], "outbound_on_match": "supervise"},
        ]})
    );
    client.cancel().await.unwrap();
    harness.stop().await;
}

#[tokio::test]
async fn egress_allow_approved_adds_the_route() {
    let harness = Harness::start(ROUTES, Duration::from_secs(20)).await;
    let client = Arc::new(harness.client().await);
    let asking = spawn_call(
        &client,
        "egress-allow",
        json!({"host": "API.GitHub.com", "methods": ["get"], "paths": ["/repos/"], "reason": "read the issue list"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    assert_eq!(proposal.kind(), ProposalKind::EgressAllow);
    assert_eq!(proposal.bottle, "dev");
    let bot_bottle_queue::Payload::EgressAllow(ask) = &proposal.payload else {
        panic!("{proposal:?}")
    };
    assert_eq!(ask.route.host, "api.github.com");
    assert_eq!(ask.route.methods.as_deref(), Some(&["GET".to_string()][..]));
    assert_eq!(ask.reason, "read the issue list");
    harness
        .queue()
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(answer["status"], "approved");
    assert_eq!(answer["route"]["host"], "api.github.com");
    let routes = routes_in(&harness.routes);
    assert_eq!(routes.len(), 3);
    assert_eq!(routes[2], ask.route);
    assert!(
        processed(&harness.queue_dir, &proposal),
        "archived after acting"
    );
    harness.stop().await;
}

#[tokio::test]
async fn egress_allow_approved_as_modified_grants_only_the_operators_route() {
    let harness = Harness::start("routes: []\n", Duration::from_secs(20)).await;
    let client = Arc::new(harness.client().await);
    let asking = spawn_call(
        &client,
        "egress-allow",
        json!({"host": "*.example.com", "reason": "docs"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    let granted = Route {
        host: "docs.example.com".into(),
        methods: Some(vec!["GET".into()]),
        ..Route::default()
    };
    harness
        .queue()
        .answer(
            &proposal.id,
            Decision::ApproveWithModification {
                route: granted.clone(),
            },
            None,
            None,
        )
        .unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(answer["status"], "approved-as-modified");
    assert_eq!(
        answer["route"],
        json!({"host": "docs.example.com", "methods": ["GET"], "outbound_on_match": "supervise"})
    );
    assert_eq!(routes_in(&harness.routes), [granted]);
    harness.stop().await;
}

#[tokio::test]
async fn egress_allow_rejected_returns_the_reason_and_changes_nothing() {
    let harness = Harness::start(ROUTES, Duration::from_secs(20)).await;
    let before = std::fs::read(&harness.routes).unwrap();
    let client = Arc::new(harness.client().await);
    let asking = spawn_call(
        &client,
        "egress-allow",
        json!({"host": "paste.example", "reason": "upload the log"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    harness
        .queue()
        .answer(
            &proposal.id,
            Decision::Reject,
            Some("no paste sites".into()),
            None,
        )
        .unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(answer["status"], "rejected");
    assert_eq!(answer["reason"], "no paste sites");
    assert_eq!(std::fs::read(&harness.routes).unwrap(), before);
    assert!(processed(&harness.queue_dir, &proposal));
    harness.stop().await;
}

#[tokio::test]
async fn an_unanswered_request_times_out_and_is_expired() {
    let harness = Harness::start(ROUTES, Duration::from_secs(1)).await;
    let before = std::fs::read(&harness.routes).unwrap();
    let client = harness.client().await;
    let answer = call(
        &client,
        "egress-allow",
        json!({"host": "slow.example", "reason": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(answer["status"], "timed-out");
    assert_eq!(std::fs::read(&harness.routes).unwrap(), before);
    let listing = harness.queue().list(Scope::All).unwrap();
    let entry = listing.entries.first().unwrap();
    assert_eq!(
        entry.valid_response().unwrap().decision,
        Decision::Expired,
        "the proposal is expired, so a late answer cannot land"
    );
    assert!(processed(&harness.queue_dir, &entry.proposal));
    harness.stop().await;
}

#[tokio::test]
async fn egress_block_drops_or_narrows_a_route() {
    let harness = Harness::start(ROUTES, Duration::from_secs(20)).await;
    let client = Arc::new(harness.client().await);
    // Narrow pypi.org to GET on /simple/: the rest of the route is kept.
    let narrowing = spawn_call(
        &client,
        "egress-block",
        json!({"host": "pypi.org", "methods": ["GET"], "paths": ["/simple/"], "reason": "only the index"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    harness
        .queue()
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap();
    let answer = narrowing.await.unwrap().unwrap();
    assert_eq!(answer["status"], "approved");
    let routes = routes_in(&harness.routes);
    assert_eq!(routes[1].host, "pypi.org");
    assert_eq!(routes[1].methods.as_deref(), Some(&["GET".to_string()][..]));
    assert_eq!(
        routes[1].paths.as_deref(),
        Some(&["/simple/".to_string()][..])
    );

    // Drop the provider route; its credential goes with it.
    let dropping = spawn_call(
        &client,
        "egress-block",
        json!({"host": "api.anthropic.com", "reason": "done"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    harness
        .queue()
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap();
    assert_eq!(dropping.await.unwrap().unwrap()["status"], "approved");
    let hosts: Vec<String> = routes_in(&harness.routes)
        .into_iter()
        .map(|route| route.host)
        .collect();
    assert_eq!(hosts, ["pypi.org"]);
    harness.stop().await;
}

#[tokio::test]
async fn capability_block_returns_the_operators_words() {
    let harness = Harness::start(ROUTES, Duration::from_secs(20)).await;
    let client = Arc::new(harness.client().await);
    let asking = spawn_call(
        &client,
        "capability-block",
        json!({"text": "cargo needs libssl-dev, which is not installed"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    let bot_bottle_queue::Payload::CapabilityBlock(block) = &proposal.payload else {
        panic!("{proposal:?}")
    };
    assert_eq!(block.text, "cargo needs libssl-dev, which is not installed");
    harness
        .queue()
        .answer(
            &proposal.id,
            Decision::Answer {
                text: "use the rustls feature instead".into(),
            },
            None,
            None,
        )
        .unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(answer["status"], "answered");
    assert_eq!(answer["text"], "use the rustls feature instead");
    assert!(processed(&harness.queue_dir, &proposal));
    harness.stop().await;
}

#[tokio::test]
async fn bad_requests_come_back_verbatim_as_client_errors() {
    let harness = Harness::start(ROUTES, Duration::from_secs(5)).await;
    let client = harness.client().await;
    let cases = [
        (
            "egress-allow",
            json!({"host": "a.example", "reason": "   "}),
            "`reason` is empty",
        ),
        (
            "egress-allow",
            json!({"host": "a.example", "reason": "x", "token_env": "EGRESS_TOKEN_ANTHROPIC"}),
            "`token_env` cannot be requested",
        ),
        (
            "egress-allow",
            json!({"host": "a.example/../x", "reason": "x"}),
            "not a valid route: host",
        ),
        (
            "egress-allow",
            json!({"host": "a.example", "methods": ["STEAL"], "reason": "x"}),
            "not a valid route: methods[0]",
        ),
        (
            "egress-allow",
            json!({"host": "a.example", "outbound_on_match": "ignore", "reason": "x"}),
            "ignore",
        ),
        ("egress-allow", json!({"reason": "x"}), "host"),
        (
            "egress-block",
            json!({"host": "nowhere.example", "reason": "x"}),
            "no route for `nowhere.example` is in force",
        ),
        ("capability-block", json!({"text": ""}), "`text` is empty"),
    ];
    for (tool, arguments, expected) in cases {
        match call(&client, tool, arguments.clone()).await {
            Err(Failure::Tool(message)) => {
                assert!(message.contains(expected), "{tool} {arguments}: {message}")
            }
            other => panic!("{tool} {arguments}: expected a tool error, got {other:?}"),
        }
    }
    assert!(
        harness.queue().list(Scope::All).unwrap().entries.is_empty(),
        "a bad request files nothing"
    );
    client.cancel().await.unwrap();
    harness.stop().await;
}

/// Everything this test binary's code logs, as the operator would read it
/// (one global subscriber, installed on first use).
fn server_log() -> String {
    static LOG: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
    static INSTALL: std::sync::Once = std::sync::Once::new();
    struct Capture;
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            LOG.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    INSTALL.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
    });
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

#[tokio::test]
async fn internal_faults_are_a_generic_internal_error() {
    server_log();
    let harness = Harness::start(ROUTES, Duration::from_secs(5)).await;
    let client = harness.client().await;
    // The queue directory vanishes: filing a proposal fails on I/O.
    std::fs::remove_dir_all(&harness.queue_dir).unwrap();
    let Err(Failure::Rpc(code, message)) =
        call(&client, "capability-block", json!({"text": "help"})).await
    else {
        panic!("expected an internal error")
    };
    assert_eq!(code, ErrorCode::INTERNAL_ERROR);
    assert!(message.starts_with("internal error"), "{message}");
    assert!(
        !message.contains(harness.queue_dir.to_str().unwrap()),
        "no path reaches the agent: {message}"
    );
    // The operator's log has what the agent was not told: the step and
    // its cause.
    let log = server_log();
    let line = log
        .lines()
        .find(|line| line.contains("cannot file the proposal"))
        .unwrap_or_else(|| panic!("no log line for the fault:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains(harness.queue_dir.to_str().unwrap()),
        "where: {line}"
    );
    assert!(line.contains("(os error 2)"), "the OS's word: {line}");
    // The routes file is replaced by a directory: reading it fails.
    std::fs::remove_file(&harness.routes).unwrap();
    std::fs::create_dir(&harness.routes).unwrap();
    let Err(Failure::Rpc(code, message)) = call(&client, "list-egress-routes", json!({})).await
    else {
        panic!("expected an internal error")
    };
    assert_eq!(code, ErrorCode::INTERNAL_ERROR);
    assert!(!message.contains("routes.yaml"), "{message}");
    client.cancel().await.unwrap();
    harness.stop().await;
}

#[tokio::test]
async fn a_waiting_call_does_not_block_other_calls() {
    let harness = Harness::start(ROUTES, Duration::from_secs(30)).await;
    let client = Arc::new(harness.client().await);
    let waiting: Vec<_> = ["one.example", "two.example"]
        .into_iter()
        .map(|host| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                call(
                    &client,
                    "egress-allow",
                    json!({"host": host, "reason": "x"}),
                )
                .await
            })
        })
        .collect();
    let proposals = pending(&harness.queue_dir, 2).await;
    // Both are waiting for the operator; other calls still answer at once,
    // from this session and from a second one.
    let listed = tokio::time::timeout(
        Duration::from_secs(5),
        call(&client, "list-egress-routes", json!({})),
    )
    .await
    .expect("list-egress-routes answers while two calls wait")
    .unwrap();
    assert_eq!(listed["routes"].as_array().unwrap().len(), 2);
    let other = harness.client().await;
    tokio::time::timeout(
        Duration::from_secs(5),
        call(&other, "list-egress-routes", json!({})),
    )
    .await
    .expect("a second session is served too")
    .unwrap();
    for proposal in &proposals {
        harness
            .queue()
            .answer(&proposal.id, Decision::Approve, None, None)
            .unwrap();
    }
    for call in waiting {
        assert_eq!(call.await.unwrap().unwrap()["status"], "approved");
    }
    let hosts: Vec<String> = routes_in(&harness.routes)
        .into_iter()
        .map(|route| route.host)
        .collect();
    assert_eq!(hosts.len(), 4, "both approvals applied: {hosts:?}");
    assert!(hosts.contains(&"one.example".to_string()));
    assert!(hosts.contains(&"two.example".to_string()));
    harness.stop().await;
}

#[tokio::test]
async fn past_the_cap_a_call_is_refused_at_once_and_files_nothing() {
    use bot_bottle_supervise::mcp::MAX_WAITING_CALLS;
    let harness = Harness::start(ROUTES, Duration::from_secs(60)).await;
    let client = Arc::new(harness.client().await);
    let answer = |text: &str| Decision::Answer { text: text.into() };
    let mut waiting: Vec<_> = (0..MAX_WAITING_CALLS)
        .map(|index| {
            spawn_call(
                &client,
                "capability-block",
                json!({"text": format!("question {index}")}),
            )
        })
        .collect();
    let proposals = pending(&harness.queue_dir, MAX_WAITING_CALLS).await;

    // One more, from a second session: refused at once, nothing filed.
    let other = harness.client().await;
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        call(&other, "capability-block", json!({"text": "one more"})),
    )
    .await
    .expect("refused at once, not queued");
    let Err(Failure::Tool(message)) = refused else {
        panic!("expected a tool error, got {refused:?}")
    };
    assert!(
        message.contains(&format!(
            "{MAX_WAITING_CALLS} questions are already waiting for the operator"
        )),
        "{message}"
    );
    assert_eq!(
        pending(&harness.queue_dir, 0).await.len(),
        MAX_WAITING_CALLS,
        "the refused call filed no proposal"
    );

    // An answer frees a place: the next call is filed and waits.
    harness
        .queue()
        .answer(&proposals[0].id, answer("first"), None, None)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let finished = loop {
        if let Some(index) = waiting.iter().position(|call| call.is_finished()) {
            break index;
        }
        assert!(
            Instant::now() < deadline,
            "the answered call never returned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first = waiting.remove(finished);
    assert_eq!(first.await.unwrap().unwrap()["text"], "first");
    let next = spawn_call(&client, "capability-block", json!({"text": "next"}));
    let now_waiting = pending(&harness.queue_dir, MAX_WAITING_CALLS).await;
    assert!(
        now_waiting.iter().any(|proposal| matches!(
            &proposal.payload,
            bot_bottle_queue::Payload::CapabilityBlock(block) if block.text == "next"
        )),
        "the call after the answer was filed"
    );
    for proposal in &now_waiting {
        harness
            .queue()
            .answer(&proposal.id, answer("ok"), None, None)
            .unwrap();
    }
    for call in waiting.into_iter().chain([next]) {
        assert_eq!(call.await.unwrap().unwrap()["status"], "answered");
    }
    harness.stop().await;
}

#[tokio::test]
async fn an_answer_after_the_agent_stopped_waiting_is_still_applied() {
    let harness = Harness::start(ROUTES, Duration::from_secs(30)).await;
    let client = Arc::new(harness.client().await);
    let asking = spawn_call(
        &client,
        "egress-allow",
        json!({"host": "late.example", "reason": "docs"}),
    );
    let proposal = pending(&harness.queue_dir, 1).await.remove(0);
    // The agent gives up: its call and its session go away.
    asking.abort();
    let _ = asking.await;
    Arc::try_unwrap(client).unwrap().cancel().await.unwrap();

    harness
        .queue()
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processed(&harness.queue_dir, &proposal) {
        assert!(Instant::now() < deadline, "the answer was never acted on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hosts: Vec<String> = routes_in(&harness.routes)
        .into_iter()
        .map(|route| route.host)
        .collect();
    assert!(hosts.contains(&"late.example".to_string()), "{hosts:?}");
    harness.stop().await;
}

#[tokio::test]
async fn a_restart_applies_an_answer_left_unacted_and_expires_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("dev");
    let routes = dir.path().join("routes.yaml");
    std::fs::write(&routes, "routes: []\n").unwrap();
    let queue = Queue::create(&queue_dir).unwrap();
    // Answered but never acted on (the sidecar died after the answer).
    let answered = queue
        .propose(
            "dev",
            bot_bottle_queue::Payload::EgressAllow(bot_bottle_queue::EgressAllow {
                route: Route {
                    host: "late.example".into(),
                    ..Route::default()
                },
                reason: "x".into(),
            }),
        )
        .unwrap();
    queue
        .answer(&answered.id, Decision::Approve, None, None)
        .unwrap();
    // Still waiting: its tool call died with the sidecar.
    let waiting = queue
        .propose(
            "dev",
            bot_bottle_queue::Payload::CapabilityBlock(bot_bottle_queue::CapabilityBlock {
                text: "x".into(),
            }),
        )
        .unwrap();
    let settings = Settings {
        queue: queue.clone(),
        bottle: "dev".into(),
        routes: RoutesFile::new(&routes),
        answer_timeout: Duration::from_secs(1),
    };
    assert_eq!(bot_bottle_supervise::server::recover(&settings).unwrap(), 2);
    assert_eq!(routes_in(&routes)[0].host, "late.example");
    assert!(processed(&queue_dir, &answered));
    assert!(processed(&queue_dir, &waiting));
    // A second recovery (a crash right after) changes nothing.
    assert_eq!(bot_bottle_supervise::server::recover(&settings).unwrap(), 0);
    assert_eq!(routes_in(&routes).len(), 1);
}
