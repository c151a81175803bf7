//! The listener: git smart HTTP at `http://ADDR/<name>.git/…`.
//!
//! Only the smart protocol's three endpoints are served — `GET
//! info/refs?service=git-upload-pack|git-receive-pack`, `POST
//! git-upload-pack`, `POST git-receive-pack` — each through `git
//! http-backend` ([`crate::cgi`]); protocol v2 works by passing the
//! `Git-Protocol` header on as `GIT_PROTOCOL`. Anything else is a 4xx with a
//! reason.
//!
//! A ref advertisement (the first request of every fetch, clone and push)
//! refreshes the mirror from upstream: before it is served for a fetch or
//! clone; while it is served for a push (the push waits for the refresh
//! and is checked against its result). Each repo has one lock: a
//! refresh and a push never run at once, and two pushes run one after the
//! other (the second then sees the first's refs, so a stale push gets "fetch
//! first"). A push takes the lock when its pre-receive hook hands it over
//! (receiving and indexing the pack touch no ref, so they run beside a
//! refresh, and beside the push ahead: at most
//! [`MAX_RECEIVING_PUSHES_PER_REPO`] pushes per repo are inside git at
//! once) and holds it until receive-pack has moved the mirror's refs,
//! including the operator's answer; a refresh that cannot get the lock
//! within [`REFRESH_LOCK_WAIT`] serves the mirror as it is. A push whose
//! mirror was last refreshed longer than `push_mirror_max_age` before its
//! check (that refresh failed or was skipped, the client never asked for
//! the advertisement, or it took its time since) refreshes it under the
//! lock before its checks, and is refused if upstream cannot be reached.
//!
//! A push's command section (the pkt-lines before its pack) is read by
//! the gate before git starts ([`crate::push_request`]): `shallow` lines
//! are dropped and a signed push is refused, because receive-pack would
//! fail such commands before its pre-receive hook yet still show them to
//! it, and the gate would forward what the mirror then refuses.
//!
//! One task per connection, at most [`MAX_CONNECTIONS`]. When `shutdown`
//! completes the listener closes and in-flight requests get
//! [`SHUTDOWN_GRACE_PERIOD`] to finish.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore};
use tokio::task::JoinSet;

use bytes::Bytes;

use crate::cgi::{self, CgiRequest, ChannelBody, RequestBody};
use crate::config::Repo;
use crate::error::{GateError, Result};
use crate::hook::HookSession;
use crate::push_request::{self, Inspection};
use crate::receive::{self, PushContext};
use crate::{Config, daemon, mirror};

/// Most client connections served at once; further accepts wait.
pub const MAX_CONNECTIONS: usize = 256;
/// Time allowed for a client to send a request head.
pub const CLIENT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may take to finish after shutdown starts.
pub const SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// How long a ref advertisement waits for the repo lock before serving the
/// mirror without refreshing it (a push is holding the lock).
pub const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors).
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// The longest `Git-Protocol` header accepted.
pub const MAX_GIT_PROTOCOL_LENGTH: usize = 256;
/// Header on every answer the gate itself wrote (not git's).
pub const GATE_HEADER: &str = "x-bot-bottle-git-gate";
/// Most pushes to one repo inside git at once: one being checked or
/// forwarded (holding the repo lock) and one being received beside it.
/// Further pushes wait before git starts, so a burst of pushes cannot run
/// a pile of `index-pack`s.
pub const MAX_RECEIVING_PUSHES_PER_REPO: usize = 2;
/// Most push command sections read at once, over every repo: each is held
/// in memory (up to `push_request::MAX_COMMAND_SECTION_BYTES`) until it
/// has ended.
pub const MAX_INSPECTING_PUSHES: usize = 16;

struct RepoState {
    repo: Repo,
    mirror: PathBuf,
    lock: Arc<Mutex<MirrorSync>>,
    receiving: Arc<Semaphore>,
}

/// What a repo's lock guards besides the mirror itself: when the mirror
/// last matched upstream.
#[derive(Debug, Default)]
struct MirrorSync {
    /// When the last refresh that succeeded started.
    refreshed: Option<Instant>,
}

impl MirrorSync {
    /// Whether a push may be checked against the mirror as it is now:
    /// refreshed at most `max_age` ago. Counted when the push is checked
    /// (its hook holds the lock), not when it arrived: a push can trickle
    /// its pack for minutes, or wait for the lock behind a push the
    /// operator is deciding, and upstream may drop a commit meanwhile.
    fn fresh(&self, max_age: Duration) -> bool {
        self.refreshed.is_some_and(|at| at.elapsed() <= max_age)
    }

    /// Refresh the mirror from upstream (the caller holds the lock this
    /// guards), recording when a refresh that succeeded started.
    async fn refresh(
        &mut self,
        state: &std::path::Path,
        repo: &Repo,
        timeouts: &crate::Timeouts,
        memory: &crate::ReceiveMemory,
    ) -> Result<()> {
        let started = Instant::now();
        mirror::refresh(state, repo, timeouts, memory).await?;
        self.refreshed = Some(started);
        Ok(())
    }
}

struct Shared {
    repos: HashMap<String, RepoState>,
    project_root: PathBuf,
    hooks_dir: PathBuf,
    /// Permits to read a push's command section (`MAX_INSPECTING_PUSHES`).
    inspecting: Arc<Semaphore>,
    state: PathBuf,
    config: Config,
    rules_cache: Arc<receive::RulesCache>,
    /// The proposals filed lately, over every repo (`config.proposal_rate`).
    proposals: Arc<crate::approval::ProposalLedger>,
    /// Read-held by every hook conversation's task for its life: shutdown
    /// waits (within the grace period) for a write hold, so a forward whose
    /// agent hung up is still seen through.
    hook_tasks: Arc<tokio::sync::RwLock<()>>,
}

/// Serve until `shutdown` completes. Prepares every mirror first.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    run_with_daemon(listener, None, config, shutdown).await
}

/// [`run`], also serving the git daemon protocol (fetch only) on `daemon`.
pub async fn run_with_daemon(
    listener: TcpListener,
    daemon: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let local = listener.local_addr().map_err(GateError::LocalAddress)?;
    let state = config.state_dir.clone();
    let mut repos = HashMap::new();
    for repo in &config.repos {
        let mirror = mirror::prepare(&state, repo, &config.timeouts).await?;
        // Quarantines left by a crash (or a kill) belong to pushes that are
        // gone: nothing of them was in the mirror's store.
        mirror::sweep_quarantines(&mirror);
        repos.insert(
            repo.name.clone(),
            RepoState {
                repo: repo.clone(),
                mirror,
                lock: Arc::new(Mutex::new(MirrorSync::default())),
                receiving: Arc::new(Semaphore::new(MAX_RECEIVING_PUSHES_PER_REPO)),
            },
        );
    }
    let hooks_dir = state.join("hooks");
    // Sessions left by a crash belong to pushes that are gone.
    if hooks_dir.exists() {
        let _ = std::fs::remove_dir_all(&hooks_dir);
    }
    std::fs::create_dir_all(&hooks_dir).map_err(|source| GateError::State {
        path: hooks_dir.clone(),
        source,
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&hooks_dir, std::fs::Permissions::from_mode(0o700));
    }
    mirror::check_hooks_dir(&hooks_dir, &config.timeouts).await?;
    // Proposals filed before a restart still count against the rate.
    let proposals = Arc::new(crate::approval::ProposalLedger::with_filed(
        config.proposal_rate,
        config.approver.filed_within(config.proposal_rate.window),
    ));
    let shared = Arc::new(Shared {
        repos,
        project_root: state.join("mirrors"),
        hooks_dir,
        inspecting: Arc::new(Semaphore::new(MAX_INSPECTING_PUSHES)),
        state,
        config,
        rules_cache: Arc::new(receive::RulesCache::default()),
        proposals,
        hook_tasks: Arc::default(),
    });
    tracing::info!(address = %local, repos = shared.repos.len(), "git-gate listening");
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    // Told `true` when shutdown starts: the git:// loop and every HTTP
    // connection listen.
    let (stop_daemon, daemon_stopped) = tokio::sync::watch::channel(false);
    if let Some(daemon) = daemon {
        let address = daemon.local_addr().map_err(GateError::LocalAddress)?;
        tracing::info!(address = %address, "git-gate daemon protocol listening (fetch only)");
        connections.spawn(serve_daemon(
            daemon,
            Arc::clone(&shared),
            Arc::clone(&limit),
            daemon_stopped,
        ));
    }
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(error = %error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        // Small writes go out at once: with Nagle's algorithm the last
        // chunk of a response (the end of a push's report) waited for the
        // client's delayed ACK, about 40 ms per request.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(error = %error, remote = %remote, "cannot set TCP_NODELAY");
        }
        let shared = Arc::clone(&shared);
        let mut stopping = stop_daemon.subscribe();
        connections.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(handle(shared, request, remote).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(CLIENT_HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    // Finish the request in flight, then close (an idle
                    // keep-alive connection closes at once).
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(error = %error, remote = %remote, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_daemon.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    let grace = tokio::time::Instant::now() + SHUTDOWN_GRACE_PERIOD;
    if tokio::time::timeout_at(grace, drain).await.is_err() {
        tracing::warn!("connections still open after the grace period; closing them");
        connections.abort_all();
    }
    if tokio::time::timeout_at(grace, shared.hook_tasks.write())
        .await
        .is_err()
    {
        tracing::warn!("a push is still being decided or forwarded after the grace period");
    }
    Ok(())
}

/// An answer written by the gate itself.
fn gate_response(status: StatusCode, message: &str) -> Response<ChannelBody> {
    let mut response = Response::new(ChannelBody::full(format!("git-gate: {message}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(GATE_HEADER, HeaderValue::from_static("1"));
    response
}

/// A push refused by the gate before git saw it, answered as
/// receive-pack would (`report` from [`push_request::refusal_report`]), so
/// the agent's `git push` prints the reason.
fn receive_pack_refusal(report: Bytes) -> Response<ChannelBody> {
    let mut response = Response::new(ChannelBody::full(report));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-git-receive-pack-result"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(GATE_HEADER, HeaderValue::from_static("1"));
    response
}

/// Which smart-HTTP endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Advertise { push: bool },
    UploadPack,
    ReceivePack,
}

/// Split `/<name>.git/<rest>` and classify it.
fn route(
    method: &Method,
    path: &str,
    query: &str,
) -> Result<(String, Endpoint), (StatusCode, String)> {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            format!("{path}: the gate serves /<repo>.git/ over git smart HTTP only"),
        )
    };
    let rest = path.strip_prefix('/').ok_or_else(not_found)?;
    let (repo, endpoint) = rest.split_once(".git/").ok_or_else(not_found)?;
    let wrong_method = |allowed: &str| {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path}: use {allowed}"),
        )
    };
    let kind = match endpoint {
        "info/refs" => {
            if method != Method::GET {
                return Err(wrong_method("GET"));
            }
            let service = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("service="));
            match service {
                Some("git-upload-pack") => Endpoint::Advertise { push: false },
                Some("git-receive-pack") => Endpoint::Advertise { push: true },
                _ => {
                    return Err((
                        StatusCode::FORBIDDEN,
                        "dumb HTTP is not served: use a git client that speaks smart HTTP (?service=git-upload-pack)".to_string(),
                    ));
                }
            }
        }
        "git-upload-pack" | "git-receive-pack" => {
            if method != Method::POST {
                return Err(wrong_method("POST"));
            }
            if endpoint == "git-upload-pack" {
                Endpoint::UploadPack
            } else {
                Endpoint::ReceivePack
            }
        }
        _ => return Err(not_found()),
    };
    Ok((repo.to_string(), kind))
}

/// `Git-Protocol` values are short `key=value:key=value` lists.
fn valid_git_protocol(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_GIT_PROTOCOL_LENGTH
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"=:._-".contains(&byte))
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<ChannelBody> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let (name, endpoint) = match route(request.method(), &path, &query) {
        Ok(routed) => routed,
        Err((status, message)) => return gate_response(status, &message),
    };
    let Some(repo) = shared.repos.get(&name) else {
        return gate_response(
            StatusCode::NOT_FOUND,
            &format!("no repository `{name}` behind this gate"),
        );
    };
    let headers = request.headers();
    let text_header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let git_protocol = match headers.get("git-protocol") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(text) if valid_git_protocol(text) => Some(text.to_string()),
            _ => {
                return gate_response(StatusCode::BAD_REQUEST, "malformed Git-Protocol header");
            }
        },
    };
    let content_encoding = match text_header(header::CONTENT_ENCODING) {
        None => None,
        Some(encoding) => match encoding.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some("gzip".to_string()),
            "identity" | "" => None,
            other => {
                return gate_response(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!("Content-Encoding {other:?} is not supported (gzip or none)"),
                );
            }
        },
    };
    let timeouts = &shared.config.timeouts;
    let mut cgi_request = CgiRequest {
        project_root: shared.project_root.clone(),
        path_info: path.clone(),
        query,
        method: request.method().to_string(),
        content_type: text_header(header::CONTENT_TYPE),
        content_encoding,
        git_protocol,
        remote_addr: remote.ip().to_string(),
        extra_env: HashMap::new(),
        timeout: timeouts.http_backend,
        body_idle: timeouts.request_body_idle,
        memory: None,
    };
    let body = request.into_body();
    let result = match endpoint {
        Endpoint::Advertise { push: false } => {
            refresh(&shared, repo).await;
            cgi::run(cgi_request, body, ()).await
        }
        Endpoint::Advertise { push: true } => {
            refresh_behind(&shared, repo).await;
            cgi::run(cgi_request, body, ()).await
        }
        Endpoint::UploadPack => cgi::run(cgi_request, body, ()).await,
        Endpoint::ReceivePack => {
            // The command section first: what receive-pack would fail
            // before its hook (and still show the hook) is dealt with
            // here, see [`push_request`].
            // At most `MAX_INSPECTING_PUSHES` command sections are read (and
            // held in memory, up to `MAX_COMMAND_SECTION_BYTES` each) at once.
            let Ok(Ok(inspecting)) = tokio::time::timeout(
                timeouts.receive_pack(),
                Arc::clone(&shared.inspecting).acquire_owned(),
            )
            .await
            else {
                return gate_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many pushes are being received; try again",
                );
            };
            let gzip = cgi_request.content_encoding.is_some();
            let inspected = tokio::time::timeout(
                timeouts.receive_pack(),
                push_request::inspect(body, gzip, timeouts.request_body_idle),
            )
            .await
            .unwrap_or_else(|_| {
                Inspection::Malformed("the commands did not arrive in time".to_string())
            });
            drop(inspecting);
            let body = match inspected {
                Inspection::Pass {
                    prefix,
                    rest,
                    section,
                } => {
                    if let Some(section) = section.filter(|section| !section.shallow.is_empty()) {
                        tracing::info!(repo = %name, shallow = section.shallow.len(), "a push from a shallow clone: its shallow lines are dropped, git checks it as a complete push");
                    }
                    RequestBody { prefix, rest }
                }
                Inspection::Refuse { why, report, rest } => {
                    tracing::warn!(repo = %name, "push refused: {why}");
                    push_request::drain(rest, timeouts.request_body_idle, timeouts.receive_pack())
                        .await;
                    return receive_pack_refusal(report);
                }
                Inspection::Malformed(why) => {
                    tracing::warn!(repo = %name, "push refused: malformed request: {why}");
                    return gate_response(
                        StatusCode::BAD_REQUEST,
                        &format!("malformed push request: {why}"),
                    );
                }
            };
            let receiving = match tokio::time::timeout(
                timeouts.receive_pack(),
                Arc::clone(&repo.receiving).acquire_owned(),
            )
            .await
            {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) | Err(_) => {
                    return gate_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "other pushes to this repository are still running; try again",
                    );
                }
            };
            // The repo lock is taken when the hook hands the push over, not
            // here: receiving and indexing the pack (into git's quarantine,
            // touching no ref) runs beside a refresh still in flight from
            // this push's own advertisement. The guard is then kept until
            // receive-pack has finished (it moves the mirror's refs after
            // the hook accepts), in `held`, dropped with the CGI run.
            let held: Arc<std::sync::Mutex<Option<OwnedMutexGuard<MirrorSync>>>> = Arc::default();
            let mut session = match HookSession::create(&shared.hooks_dir) {
                Ok(session) => session,
                Err(error) => {
                    tracing::error!(error = %error, "cannot start a hook session");
                    return gate_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
                }
            };
            for (variable, value) in session.env() {
                cgi_request.extra_env.insert(variable, value);
            }
            // Its own run, after waiting at most as long for the push ahead.
            cgi_request.timeout = timeouts.receive_pack() * 2;
            // Bounded memory: a pack's deltas can ask git for far more
            // than the pack's size (see `receive_memory`).
            cgi_request.memory = Some(shared.config.receive_memory);
            let context = PushContext {
                repo: repo.repo.clone(),
                mirror: repo.mirror.clone(),
                state: shared.state.clone(),
                scanner: Arc::clone(&shared.config.scanner),
                approver: Arc::clone(&shared.config.approver),
                timeouts: timeouts.clone(),
                scan_limits: shared.config.scan_limits,
                rules_cache: Arc::clone(&shared.rules_cache),
                proposals: Arc::clone(&shared.proposals),
                forwarding: Arc::default(),
                receive_memory: shared.config.receive_memory,
            };
            let forwarding = Arc::clone(&context.forwarding);
            let lock = Arc::clone(&repo.lock);
            let holder = Arc::clone(&held);
            let lock_wait = timeouts.receive_pack();
            // Dropped when the CGI run (receive-pack) is over.
            let (ended, run_over) = tokio::sync::oneshot::channel::<()>();
            let sweep = Arc::new(QuarantineSweep::default());
            let sweep_path = Arc::clone(&sweep);
            let alive = Arc::clone(&shared.hook_tasks).read_owned().await;
            let hook = tokio::spawn(async move {
                let _alive = alive;
                match session.read_request().await {
                    Ok(push) => {
                        *sweep_path
                            .0
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            receive::sweepable_quarantine(
                                &context.mirror,
                                push.quarantine.as_deref(),
                            );
                        let Ok(mut guard) =
                            tokio::time::timeout(lock_wait, lock.lock_owned()).await
                        else {
                            tracing::warn!(repo = %context.repo.name, "push refused: the repo lock was not free in time");
                            session
                                .say(&format!("{}push refused: another push to this repository is still running; try again", receive::MESSAGE_PREFIX))
                                .await;
                            session.finish(false).await;
                            return;
                        };
                        // What counts as already upstream is what the
                        // mirror's refs reach: they must be recent.
                        if !guard.fresh(context.timeouts.push_mirror_max_age) {
                            let started = Instant::now();
                            if let Err(error) = guard
                                .refresh(
                                    &context.state,
                                    &context.repo,
                                    &context.timeouts,
                                    &context.receive_memory,
                                )
                                .await
                            {
                                tracing::warn!(repo = %context.repo.name, error = %error, "push refused: the mirror is stale and its refresh from upstream failed");
                                // Upstream's own words, as a forward's
                                // refusal shows them.
                                let why = match &error {
                                    GateError::CommandFailed { stderr, .. } => stderr.clone(),
                                    GateError::Timeout { timeout, .. } => {
                                        format!("no answer within {}s", timeout.as_secs())
                                    }
                                    _ => "see the gate's log".into(),
                                };
                                session
                                    .say(&format!("{}push refused: upstream could not be reached to check this push against what it has now ({why}); try again", receive::MESSAGE_PREFIX))
                                    .await;
                                session.finish(false).await;
                                return;
                            }
                            tracing::debug!(repo = %context.repo.name, elapsed_ms = started.elapsed().as_millis() as u64, "mirror refreshed before a push");
                        }
                        *holder
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(guard);
                        let pushed: Vec<String> =
                            push.updates.iter().map(|u| u.reference.clone()).collect();
                        let expected: HashMap<String, String> = push
                            .updates
                            .iter()
                            .filter(|update| !update.is_delete())
                            .map(|update| (update.reference.clone(), update.new.clone()))
                            .collect();
                        let accepted = receive::decide(&context, &mut session, push).await;
                        session.finish(accepted).await;
                        if context.forwarding.load(Ordering::SeqCst) {
                            // Upstream was sent the push: once receive-pack
                            // is over, the mirror must show what upstream
                            // has (the lock is still held, in `holder`).
                            let _ = tokio::time::timeout(lock_wait * 2, run_over).await;
                            settle_after_forward(&context, &pushed, accepted.then_some(&expected))
                                .await;
                        }
                        drop(holder);
                        drop(sweep_path);
                    }
                    Err(message) => {
                        tracing::warn!(repo = %context.repo.name, "bad hook request: {message}");
                        session.finish(false).await;
                    }
                }
            });
            cgi::run(
                cgi_request,
                body,
                (
                    held,
                    receiving,
                    ended,
                    sweep,
                    AbortUnlessForwarding {
                        task: hook,
                        forwarding,
                    },
                ),
            )
            .await
        }
    };
    match result {
        Ok(response) => match response.head {
            Ok(head) => {
                let mut out = Response::new(response.body);
                *out.status_mut() = head.status;
                for (name, value) in head.headers {
                    out.headers_mut().append(name, value);
                }
                out
            }
            Err(error) => {
                tracing::error!(path = %path, error = %error, "git http-backend answered badly");
                gate_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the git backend failed (see the gate's log)",
                )
            }
        },
        Err(error) => {
            tracing::error!(path = %path, error = %error, "cannot run git http-backend");
            gate_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot run the git backend",
            )
        }
    }
}

/// The git:// accept loop.
async fn serve_daemon(
    listener: TcpListener,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut stream, remote)) = accepted else {
            tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let _permit = permit;
            let request = match tokio::time::timeout(
                daemon::DAEMON_REQUEST_TIMEOUT,
                daemon::read_pkt_line(&mut stream),
            )
            .await
            {
                Ok(Ok(payload)) => daemon::parse_request(&payload),
                Ok(Err(message)) => Err(message),
                Err(_) => Err("no request in time".to_string()),
            };
            let request = match request {
                Ok(request) => request,
                Err(message) => {
                    tracing::debug!(remote = %remote, "bad git:// request: {message}");
                    daemon::send_error(&mut stream, &message).await;
                    return;
                }
            };
            if request.service != "git-upload-pack" {
                daemon::send_error(&mut stream, "git:// is fetch only; push over http://").await;
                return;
            }
            let Some(repo) = shared.repos.get(&request.repo) else {
                daemon::send_error(
                    &mut stream,
                    &format!("no repository `{}` behind this gate", request.repo),
                )
                .await;
                return;
            };
            refresh(&shared, repo).await;
            daemon::serve_upload_pack(
                stream,
                &repo.mirror,
                request.protocol.as_deref(),
                shared.config.timeouts.http_backend,
            )
            .await;
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Refresh the mirror unless a push holds the lock for too long.
async fn refresh(shared: &Shared, repo: &RepoState) {
    let started = Instant::now();
    let Ok(mut guard) = tokio::time::timeout(REFRESH_LOCK_WAIT, repo.lock.lock()).await else {
        tracing::info!(repo = %repo.repo.name, "a push is in progress; serving the mirror without refreshing");
        return;
    };
    if let Err(error) = guard
        .refresh(
            &shared.state,
            &repo.repo,
            &shared.config.timeouts,
            &shared.config.receive_memory,
        )
        .await
    {
        tracing::warn!(repo = %repo.repo.name, error = %error, "cannot refresh the mirror from upstream (unreachable, or git failed or ran out of its memory bound); serving the mirror as it is");
    }
    tracing::debug!(repo = %repo.repo.name, elapsed_ms = started.elapsed().as_millis() as u64, "mirror refreshed");
}

/// For a push's ref advertisement: take the repo lock as [`refresh`] does,
/// but refresh in the background while the mirror's refs are advertised.
/// The push that follows waits for the lock, so it is checked against the
/// refreshed mirror: a ref the refresh moved is refused as "moved since you
/// fetched", just as if upstream had moved a moment after a refresh, and
/// upstream itself refuses anything not a fast-forward of what it has.
/// Saves the refresh's time (an upstream round trip) on every push.
async fn refresh_behind(shared: &Shared, repo: &RepoState) {
    let Ok(guard) =
        tokio::time::timeout(REFRESH_LOCK_WAIT, Arc::clone(&repo.lock).lock_owned()).await
    else {
        tracing::info!(repo = %repo.repo.name, "a push is in progress; serving the mirror without refreshing");
        return;
    };
    let state = shared.state.clone();
    let config = repo.repo.clone();
    let timeouts = shared.config.timeouts.clone();
    let memory = shared.config.receive_memory;
    tokio::spawn(async move {
        let mut guard = guard;
        let started = Instant::now();
        if let Err(error) = guard.refresh(&state, &config, &timeouts, &memory).await {
            tracing::warn!(repo = %config.name, error = %error, "cannot refresh the mirror from upstream (unreachable, or git failed or ran out of its memory bound); serving the mirror as it is");
        }
        tracing::debug!(repo = %config.name, elapsed_ms = started.elapsed().as_millis() as u64, "mirror refreshed (behind a push advertisement)");
    });
}

/// After a push was forwarded: when it was accepted (`expected`: the new
/// id of each ref it sets; a ref missing from it is deleted) and the
/// mirror shows exactly that, nothing to do. Otherwise (receive-pack was
/// killed because the agent hung up, its ref update failed, or the forward
/// failed and upstream's state is unknown) the pushed refs are settled
/// from upstream ([`mirror::settle_refs`]).
async fn settle_after_forward(
    context: &receive::PushContext,
    pushed: &[String],
    expected: Option<&HashMap<String, String>>,
) {
    let repo = &context.repo.name;
    if let Some(expected) = expected {
        match mirror::mirror_refs(&context.mirror, pushed, &context.timeouts).await {
            Ok(now) if &now == expected => return,
            Ok(_) => {
                tracing::warn!(repo = %repo, "upstream took a push the mirror did not record (the agent hung up?); settling the mirror from upstream");
            }
            Err(error) => {
                tracing::warn!(repo = %repo, error = %error, "cannot read the mirror's refs after a push; settling them from upstream");
            }
        }
    }
    let settled = mirror::settle_refs(
        &context.state,
        &context.repo,
        &context.timeouts,
        &context.receive_memory,
        pushed,
    )
    .await;
    if matches!(&settled, Ok(changed) if changed.is_empty()) {
        return;
    }
    // A ref name with a match is logged masked.
    let shown = receive::shown_names(context, pushed.iter().map(String::as_str)).await;
    let names = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .map(|name| shown.name(name).to_string())
            .collect()
    };
    match settled {
        Ok(changed) => {
            tracing::warn!(repo = %repo, refs = ?names(&changed), "mirror refs settled to upstream's after a forward");
        }
        Err(error) => {
            tracing::error!(repo = %repo, error = %shown.text(&error.to_string()), refs = ?names(pushed), "cannot settle the mirror's refs from upstream after a forward; the next refresh repairs branches and tags");
        }
    }
}

/// The quarantine directory of a push (set once the hook names it),
/// removed when both the CGI run and the hook conversation are over: git
/// removes it itself unless receive-pack was killed (the agent hung up, a
/// bound ran out), and a forward still in flight reads from it.
#[derive(Default)]
struct QuarantineSweep(std::sync::Mutex<Option<PathBuf>>);

impl Drop for QuarantineSweep {
    fn drop(&mut self) {
        let path = self
            .0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(path) = path
            && path.exists()
        {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed the quarantine a killed receive-pack left");
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = %error, "cannot remove a quarantine a killed receive-pack left");
                }
            }
        }
    }
}

/// The hook conversation's task, ended with the CGI run (the agent hung up,
/// or the run is over) — unless its push was released to upstream: that
/// decision is seen through (upstream's answer awaited, the mirror settled),
/// within the forward's own bound, since killing a forward half way does
/// not stop upstream from taking it.
struct AbortUnlessForwarding {
    task: tokio::task::JoinHandle<()>,
    forwarding: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for AbortUnlessForwarding {
    fn drop(&mut self) {
        if !self.forwarding.load(Ordering::SeqCst) {
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            route(&get, "/app.git/info/refs", "service=git-upload-pack"),
            Ok(("app".into(), Endpoint::Advertise { push: false }))
        );
        assert_eq!(
            route(&get, "/app.git/info/refs", "service=git-receive-pack"),
            Ok(("app".into(), Endpoint::Advertise { push: true }))
        );
        assert_eq!(
            route(&post, "/app.git/git-upload-pack", ""),
            Ok(("app".into(), Endpoint::UploadPack))
        );
        assert_eq!(
            route(&post, "/app.git/git-receive-pack", ""),
            Ok(("app".into(), Endpoint::ReceivePack))
        );
        assert_eq!(
            route(&get, "/app.git/info/refs", "").unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            route(&get, "/app.git/HEAD", "").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            route(&get, "/app.git/git-upload-pack", "").unwrap_err().0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            route(&post, "/app.git/info/refs", "service=git-upload-pack")
                .unwrap_err()
                .0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            route(&get, "/app/info/refs", "").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn git_protocol_values() {
        assert!(valid_git_protocol("version=2"));
        assert!(valid_git_protocol("version=2:object-format=sha256"));
        assert!(!valid_git_protocol(""));
        assert!(!valid_git_protocol("version=2\nX"));
        assert!(!valid_git_protocol("a b"));
    }
}
