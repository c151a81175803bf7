//! WebSocket upgrades: passed through, every client message inspected
//! before it is sent upstream.
//!
//! An HTTP/1.1 agent upgrades with `Upgrade: websocket`; an HTTP/2 agent
//! opens a stream with an extended CONNECT (`:protocol websocket`, RFC 8441,
//! offered in the tunnel's SETTINGS). Either way the upstream is asked for
//! an HTTP/1.1 upgrade — with the agent's `Sec-WebSocket-Key` (an upgrade
//! without one is refused), or for HTTP/2 agents a key the proxy makes —
//! and the upstream's `Sec-WebSocket-Accept` must answer that key, else the
//! agent gets a 502; the HTTP/2 agent gets a 200 where an HTTP/1.1 one gets
//! a 101. A 2xx that is not a 101, to an HTTP/2 agent's extended CONNECT,
//! is a 502 too (it would say the socket is open).
//!
//! The upgrade request goes through the whole pipeline like any other
//! request (route, head inspection, credential). When the upstream answers
//! 101, the proxy answers 101 too and relays messages between the two
//! upgraded connections. Each text or binary message from the agent is
//! reassembled from its frames and handed to
//! [`crate::inspect::Inspector::inspect_frame`]: `Pass` forwards it,
//! `Redact` forwards the rewritten payload, `Hold` waits for the operator,
//! and `Block` (or a refused hold) closes both sides with code 1008 (policy
//! violation) and the reason. Messages from the upstream are relayed
//! untouched. The `Sec-WebSocket-Extensions` request header is removed so
//! no compression extension is negotiated: the inspector always sees
//! plain payloads.
//!
//! A socket on which no byte arrives from either side (data, ping or pong)
//! for [`WEBSOCKET_IDLE_TIMEOUT`] is closed on both sides with code 1001
//! (going away): the two ends of a live socket ping each other far more
//! often. The time counts raw bytes read, not whole messages, so a large
//! message arriving slowly, frame by frame or byte by byte, keeps the socket
//! open; and it does not run while a message waits for the operator.
//! A message (or close) being sent on to a side that takes no byte of it
//! for that same time ends the relay too, with code 1001 to the agent when
//! it is the upstream that stopped reading ([`send_taken`]): the deadline
//! above is looked at only between messages, and before (audit round 8) an
//! upstream that switched protocols and then read nothing held the relay,
//! with its budget share, its place among the requests in flight and its
//! upstream connection, for ever.
//!
//! A message being assembled from its frames, on either side, counts
//! against the buffered-bodies budget
//! ([`crate::proxy::BUFFERED_BODIES_BUDGET_BYTES`], shared with request
//! bodies) from the first byte past [`WEBSOCKET_UNBUDGETED_BYTES`] until it
//! has been inspected and sent on (through any hold): each side reads no
//! further than the room it holds ([`Budgeted`]). A side that finds no
//! room within the budget wait closes the socket on both sides, the agent
//! told why with code 1013 (try again later). Before, up to
//! [`MAX_WEBSOCKET_MESSAGE_BYTES`] per side of every socket counted in no
//! budget, so many sockets each sending most of a large message could take
//! memory the budget refused to request bodies. A ping or pong between a
//! message's frames leaves that message its share (audit round 8: taking
//! it as a message of its own gave the share back, so a ping after every
//! fragment assembled any message with none).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use http::header;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::inspect::{HoldOutcome, RequestContext, Verdict};
use crate::proxy::Shared;

/// The largest message (all frames of it) the proxy relays and inspects.
pub const MAX_WEBSOCKET_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How long a relayed WebSocket may go without a message either way.
pub const WEBSOCKET_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// The longest close reason WebSocket allows (control frames are ≤ 125 bytes).
const MAX_CLOSE_REASON_BYTES: usize = 123;
/// Bytes of a message (frame headers included) each side of a socket
/// reads before taking any of the buffered-bodies budget: small messages
/// take none (a socket's own buffers are bounded with the sockets, by
/// [`crate::server::MAX_REQUESTS_IN_FLIGHT`]).
pub const WEBSOCKET_UNBUDGETED_BYTES: usize = 64 * 1024;
/// Bytes of the buffered-bodies budget a side takes at a time past
/// [`WEBSOCKET_UNBUDGETED_BYTES`] (at most this much is held beyond what
/// has been read).
const WEBSOCKET_BUDGET_STEP: usize = 256 * 1024;

/// Whether the request asks to switch to WebSocket.
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

/// A fresh `Sec-WebSocket-Key` for an upgrade the proxy makes itself (an
/// HTTP/2 agent's extended CONNECT, sent upstream as HTTP/1.1).
pub(crate) fn generate_key() -> String {
    tokio_tungstenite::tungstenite::handshake::client::generate_key()
}

/// Whether a 101 answers `key` (its `Sec-WebSocket-Accept`, RFC 6455 §4.1).
pub(crate) fn accepts(headers: &HeaderMap, key: &str) -> bool {
    let expected = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    headers
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes())
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(MAX_WEBSOCKET_MESSAGE_BYTES))
}

fn truncated(reason: &str) -> String {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// When a byte last arrived on either connection of one relay.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte read.
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.fetch_max(millis, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + std::time::Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

/// Writes pass straight through a wrapper (`$wrapper<T>` with an `inner:
/// T`); `$on_written` (given the wrapper) runs after each write that took
/// bytes, for a wrapper that watches its writes too.
macro_rules! delegate_writes {
    ($wrapper:ident) => {
        delegate_writes!($wrapper, |_| {});
    };
    ($wrapper:ident, $on_written:expr) => {
        impl<T: AsyncWrite + Unpin> AsyncWrite for $wrapper<T> {
            fn poll_write(
                mut self: Pin<&mut Self>,
                context: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<std::io::Result<usize>> {
                let polled = Pin::new(&mut self.inner).poll_write(context, data);
                if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
                    ($on_written)(&*self);
                }
                polled
            }

            fn poll_flush(
                mut self: Pin<&mut Self>,
                context: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.inner).poll_flush(context)
            }

            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                context: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.inner).poll_shutdown(context)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                context: &mut Context<'_>,
                buffers: &[std::io::IoSlice<'_>],
            ) -> Poll<std::io::Result<usize>> {
                let polled = Pin::new(&mut self.inner).poll_write_vectored(context, buffers);
                if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
                    ($on_written)(&*self);
                }
                polled
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}

/// A connection that records every read that brings bytes in [`Activity`]
/// (`activity`, shared by both connections of a relay), and every write
/// that takes bytes in `written` (its own: is this peer still reading?).
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
    written: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buffer);
        if matches!(polled, Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

delegate_writes!(Watched, |watched: &Watched<T>| watched.written.touch());

/// How sending one message to one side ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Done,
    Failed,
    /// The side took no byte of it for the idle time: it stopped reading.
    Stalled,
}

/// Send `message` on `sink`, giving up once the side has taken no byte
/// for `idle` (`written`: when a byte last went out on its connection).
/// The relay's idle deadline is looked at only between messages, so
/// without this a peer that stops reading would hold the relay (its
/// budget share, its place among the requests in flight, its upstream
/// connection) for ever.
async fn send_taken<S>(sink: &mut S, message: Message, written: &Activity, idle: Duration) -> Sent
where
    S: futures_util::Sink<Message> + Unpin,
{
    let sending = sink.send(message);
    tokio::pin!(sending);
    let deadline = tokio::time::sleep(idle);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            sent = &mut sending => return if sent.is_ok() { Sent::Done } else { Sent::Failed },
            () = &mut deadline => {
                let resume = written.last() + idle;
                if resume > Instant::now() {
                    deadline.as_mut().reset(resume);
                    continue;
                }
                return Sent::Stalled;
            }
        }
    }
}

/// What one side of a relay has read since its last message was taken,
/// and the share of the buffered-bodies budget that covers it.
#[derive(Default)]
struct Claims {
    state: Mutex<Unclaimed>,
    /// The side stopped reading: no room in the budget in time.
    starved: AtomicBool,
}

#[derive(Default)]
struct Unclaimed {
    read: usize,
    share: Option<OwnedSemaphorePermit>,
}

impl Claims {
    /// The share of the message just read, to keep until it is sent on;
    /// the count starts again for the next one.
    fn take(&self) -> Option<OwnedSemaphorePermit> {
        let Ok(mut state) = self.state.lock() else {
            return None;
        };
        state.read = 0;
        state.share.take()
    }

    /// A ping or pong of `wire` bytes was read. A control frame may come
    /// between the frames of a message still being assembled (RFC 6455
    /// §5.4), so the count and the share go on for that message: only the
    /// control frame's own bytes leave the count, and the share goes only
    /// when what is left is within [`WEBSOCKET_UNBUDGETED_BYTES`].
    fn control(&self, wire: usize) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.read = state.read.saturating_sub(wire);
        if state.read <= WEBSOCKET_UNBUDGETED_BYTES {
            state.share = None;
        }
    }

    /// The share `message`, just read on this side, keeps until it is sent
    /// on: a data message or a close takes the side's share ([`Claims::take`]);
    /// a ping or pong takes none and leaves the share with the message that
    /// may be being assembled around it ([`Claims::control`]). `masked`:
    /// this side's frames carry a masking key (the agent's, RFC 6455 §5.3).
    fn settle(&self, message: &Message, masked: bool) -> Option<OwnedSemaphorePermit> {
        match message {
            Message::Ping(payload) | Message::Pong(payload) => {
                // A control frame's payload is at most 125 bytes: a
                // two-byte header, and the key when masked.
                self.control(2 + if masked { 4 } else { 0 } + payload.len());
                None
            }
            _ => self.take(),
        }
    }

    fn starved(&self) -> bool {
        self.starved.load(Ordering::SeqCst)
    }
}

type Reserving = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

/// One side's connection, read no further than the budget room it holds:
/// past [`WEBSOCKET_UNBUDGETED_BYTES`] since its last message was taken,
/// it takes [`WEBSOCKET_BUDGET_STEP`] more before reading on, waiting at
/// most the budget wait; then reading fails and [`Claims::starved`] says
/// why.
struct Budgeted<T> {
    inner: T,
    budget: Arc<Semaphore>,
    wait: Duration,
    claims: Arc<Claims>,
    reserving: Option<Reserving>,
}

impl<T: AsyncRead + Unpin> Budgeted<T> {
    /// Bytes that may be read now, once room is held for at least one.
    fn poll_room(&mut self, context: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        loop {
            let (read, covered) = match self.claims.state.lock() {
                Ok(state) => (
                    state.read,
                    WEBSOCKET_UNBUDGETED_BYTES
                        + state.share.as_ref().map_or(0, |share| share.num_permits()),
                ),
                Err(_) => return Poll::Ready(Err(std::io::Error::other("budget state poisoned"))),
            };
            if read < covered {
                return Poll::Ready(Ok(covered - read));
            }
            let reserving = self.reserving.get_or_insert_with(|| {
                let (budget, wait) = (Arc::clone(&self.budget), self.wait);
                Box::pin(async move {
                    crate::proxy::reserve_within(&budget, WEBSOCKET_BUDGET_STEP, wait).await
                })
            });
            let reserved = ready!(reserving.as_mut().poll(context));
            self.reserving = None;
            let Some(permit) = reserved else {
                self.claims.starved.store(true, Ordering::SeqCst);
                return Poll::Ready(Err(std::io::Error::other(
                    "no room in the buffered-bodies budget for a WebSocket message",
                )));
            };
            if let Ok(mut state) = self.claims.state.lock() {
                match &mut state.share {
                    Some(share) => share.merge(permit),
                    None => state.share = Some(permit),
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Budgeted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let room = ready!(this.poll_room(context))?;
        let mut limited = ReadBuf::new(buffer.initialize_unfilled_to(room.min(buffer.remaining())));
        ready!(Pin::new(&mut this.inner).poll_read(context, &mut limited))?;
        let read = limited.filled().len();
        buffer.advance(read);
        if let Ok(mut state) = this.claims.state.lock() {
            state.read += read;
        }
        Poll::Ready(Ok(()))
    }
}

delegate_writes!(Budgeted);

/// What to do with one message from the agent.
enum Decision {
    Forward(Message),
    Refuse(String),
}

/// The bytes a message carries: a text or binary message's, a ping's or
/// pong's payload, a close frame's reason; `None` for a close without a
/// frame (and a raw frame, which reading never yields).
fn payload(message: &Message) -> Option<bytes::Bytes> {
    match message {
        Message::Text(text) => Some(bytes::Bytes::copy_from_slice(text.as_bytes())),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => Some(data.clone()),
        Message::Close(Some(frame)) => Some(bytes::Bytes::copy_from_slice(frame.reason.as_bytes())),
        Message::Close(None) | Message::Frame(_) => None,
    }
}

/// `message` carrying `payload` instead, of the same kind; `Err` with the
/// message unchanged when a text message or close reason would not be
/// UTF-8.
fn with_payload(message: Message, payload: bytes::Bytes) -> Result<Message, Message> {
    match message {
        Message::Text(text) => match payload.try_into() {
            Ok(replaced) => Ok(Message::Text(replaced)),
            Err(_) => Err(Message::Text(text)),
        },
        Message::Binary(_) => Ok(Message::Binary(payload)),
        Message::Ping(_) => Ok(Message::Ping(payload)),
        Message::Pong(_) => Ok(Message::Pong(payload)),
        Message::Close(Some(frame)) => match payload.try_into() {
            Ok(reason) => Ok(Message::Close(Some(CloseFrame {
                code: frame.code,
                reason,
            }))),
            Err(_) => Err(Message::Close(Some(frame))),
        },
        other => Ok(other),
    }
}

async fn inspect(shared: &Shared, context: &RequestContext, message: Message) -> Decision {
    // Every message the agent sends is inspected, control frames too: a
    // ping's or pong's payload and a close frame's reason reach upstream as
    // surely as a text message does.
    let Some(payload) = payload(&message) else {
        return Decision::Forward(message);
    };
    let Ok(verdict) = crate::proxy::inspect_sized(
        shared,
        context,
        &payload,
        |inspector, context, payload| inspector.inspect_frame(context, payload),
        None,
    )
    .await
    else {
        return Decision::Refuse("the message could not be inspected".into());
    };
    match verdict {
        Verdict::Pass => Decision::Forward(message),
        Verdict::Redact(rewritten) => match with_payload(message, rewritten) {
            Ok(redacted) => Decision::Forward(redacted),
            Err(Message::Close(_)) => {
                Decision::Refuse("the redacted close reason is not UTF-8".into())
            }
            Err(_) => Decision::Refuse("the redacted text message is not UTF-8".into()),
        },
        Verdict::Block(reason) => Decision::Refuse(reason),
        Verdict::Hold(hold) => match shared.holds.resolve(context, &hold).await {
            HoldOutcome::Approve => Decision::Forward(message),
            HoldOutcome::Reject(reason) => Decision::Refuse(reason),
        },
    }
}

/// `message` with the mask's value masked in its payload (a text message
/// stays text: the mask writes ASCII `*` over whole UTF-8 sequences).
fn mask_message(mask: &crate::response::Mask, message: Message) -> Message {
    let Some(payload) = payload(&message) else {
        return message;
    };
    let mut bytes = payload.to_vec();
    mask.mask_all(&mut bytes);
    with_payload(message, bytes::Bytes::from(bytes)).unwrap_or_else(|unchanged| unchanged)
}

/// Relay messages between the agent and the upstream once both sides have
/// switched protocols.
pub(crate) async fn relay(
    shared: Arc<Shared>,
    context: RequestContext,
    client: OnUpgrade,
    upstream: OnUpgrade,
    mask: Option<crate::response::Mask>,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(request_id = context.request_id, %error, "WebSocket upgrade did not complete");
            return;
        }
    };
    let activity = Arc::new(Activity::new());
    let client_claims = Arc::new(Claims::default());
    let upstream_claims = Arc::new(Claims::default());
    let client_written = Arc::new(Activity::new());
    let upstream_written = Arc::new(Activity::new());
    let budgeted = |io, claims: &Arc<Claims>, written: &Arc<Activity>| Budgeted {
        inner: Watched {
            inner: TokioIo::new(io),
            activity: activity.clone(),
            written: Arc::clone(written),
        },
        budget: Arc::clone(&shared.body_budget),
        wait: shared.budget_wait,
        claims: Arc::clone(claims),
        reserving: None,
    };
    let client = WebSocketStream::from_raw_socket(
        budgeted(client, &client_claims, &client_written),
        Role::Server,
        Some(config()),
    )
    .await;
    let upstream = WebSocketStream::from_raw_socket(
        budgeted(upstream, &upstream_claims, &upstream_written),
        Role::Client,
        Some(config()),
    )
    .await;
    let (mut to_client, mut from_client) = client.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    // Every send below, closes included, gives up on a side that stops
    // reading ([`send_taken`]).
    let idle = shared.websocket_idle_timeout;
    let deadline = tokio::time::sleep(idle);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => {
                // Bytes of a message still arriving count as activity.
                let resume = activity.last() + idle;
                if resume > Instant::now() {
                    deadline.as_mut().reset(resume);
                    continue;
                }
                tracing::warn!(
                    request_id = context.request_id,
                    host = %context.log_host,
                    idle_seconds = idle.as_secs_f64(),
                    "WebSocket idle: no message either way; closed"
                );
                let reason = truncated(&format!(
                    "bot-bottle egress: idle for {}s",
                    idle.as_secs()
                ));
                send_taken(&mut to_client, Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: reason.into() })), &client_written, idle).await;
                send_taken(&mut to_upstream, Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "".into() })), &upstream_written, idle).await;
                break;
            }
            message = from_client.next() => match message {
                // Its share of the budget is kept until it is sent on.
                Some(Ok(message)) => match (client_claims.settle(&message, true), inspect(&shared, &context, message).await) {
                    (_share, Decision::Forward(message)) => {
                        match send_taken(&mut to_upstream, message, &upstream_written, idle).await {
                            Sent::Done => {}
                            Sent::Failed => break,
                            Sent::Stalled => {
                                stalled(&context, "the upstream", idle);
                                let reason = truncated("bot-bottle egress: the upstream stopped reading");
                                send_taken(&mut to_client, Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: reason.into() })), &client_written, idle).await;
                                break;
                            }
                        }
                        // A hold's wait does not count as idle time: the
                        // deadline restarts from the forward, whatever the
                        // last byte read.
                        deadline.as_mut().reset(Instant::now() + idle);
                    }
                    (_, Decision::Refuse(reason)) => {
                        tracing::warn!(
                            decision = "block",
                            request_id = context.request_id,
                            host = %context.log_host,
                            %reason,
                            "WebSocket message blocked by outbound inspection"
                        );
                        let close = |reason: String| Message::Close(Some(CloseFrame { code: CloseCode::Policy, reason: reason.into() }));
                        send_taken(&mut to_client, close(truncated(&format!("bot-bottle egress: blocked: {reason}"))), &client_written, idle).await;
                        send_taken(&mut to_upstream, close(String::new()), &upstream_written, idle).await;
                        break;
                    }
                },
                _ if client_claims.starved() => {
                    no_room(&context, "the agent's");
                    send_taken(&mut to_client, try_again("your message"), &client_written, idle).await;
                    send_taken(&mut to_upstream, Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "".into() })), &upstream_written, idle).await;
                    break;
                }
                _ => {
                    let _ = tokio::time::timeout(idle, to_upstream.close()).await;
                    break;
                }
            },
            message = from_upstream.next() => match message {
                Some(Ok(message)) => {
                    let _share = upstream_claims.settle(&message, false);
                    // The injected credential, should the upstream echo it.
                    let message = match &mask {
                        Some(mask) => mask_message(mask, message),
                        None => message,
                    };
                    match send_taken(&mut to_client, message, &client_written, idle).await {
                        Sent::Done => {}
                        Sent::Failed => break,
                        Sent::Stalled => {
                            stalled(&context, "the agent", idle);
                            send_taken(&mut to_upstream, Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "".into() })), &upstream_written, idle).await;
                            break;
                        }
                    }
                    deadline.as_mut().reset(Instant::now() + idle);
                }
                _ if upstream_claims.starved() => {
                    no_room(&context, "the upstream's");
                    send_taken(&mut to_client, try_again("the upstream's message"), &client_written, idle).await;
                    send_taken(&mut to_upstream, Message::Close(Some(CloseFrame { code: CloseCode::Again, reason: "".into() })), &upstream_written, idle).await;
                    break;
                }
                _ => {
                    let _ = tokio::time::timeout(idle, to_client.close()).await;
                    break;
                }
            },
        }
    }
}

/// Log a socket closed because `whom` took no byte of a message for the
/// idle time.
fn stalled(context: &RequestContext, whom: &str, idle: Duration) {
    tracing::warn!(
        request_id = context.request_id,
        host = %context.log_host,
        idle_seconds = idle.as_secs_f64(),
        "WebSocket closed: {whom} stopped reading (took no byte of a message for the idle time)"
    );
}

/// Log a socket closed for want of budget room for `whose` message.
fn no_room(context: &RequestContext, whose: &str) {
    tracing::warn!(
        decision = "deny",
        request_id = context.request_id,
        host = %context.log_host,
        "WebSocket closed: no room to buffer {whose} message in time (too many large messages and request bodies at once)"
    );
}

/// The close (1013, try again later) telling the agent there was no room
/// for `what`.
fn try_again(what: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Again,
        reason: truncated(&format!(
            "bot-bottle egress: no room to buffer {what} (too many large messages and bodies at once); try again"
        ))
        .into(),
    }))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn upstream_messages_have_the_injected_credential_masked() {
        let mask = crate::response::Mask::new(b"tok-123456").unwrap();
        assert_eq!(
            mask_message(&mask, Message::text("echo: Bearer tok-123456!")),
            Message::text("echo: Bearer **********!")
        );
        assert_eq!(
            mask_message(&mask, Message::binary(&b"\x00tok-123456"[..])),
            Message::binary(&b"\x00**********"[..])
        );
        let Message::Close(Some(frame)) = mask_message(
            &mask,
            Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "tok-123456".into(),
            })),
        ) else {
            panic!("not a close");
        };
        assert_eq!(frame.reason.as_str(), "**********");
    }

    #[test]
    fn recognises_an_upgrade_request() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_upgrade(&headers));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!is_upgrade(&headers));
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(100);
        let reason = truncated(&long);
        assert!(reason.len() <= MAX_CLOSE_REASON_BYTES);
        assert!(reason.chars().all(|character| character == 'é'));
    }
}
