//! Running `git http-backend` as a CGI program and parsing what it prints.
//!
//! The request body is streamed into the program's stdin, after any bytes
//! the gate has already read of it ([`RequestBody`]: a push's command
//! section, see [`crate::push_request`]); a gzip body is passed through
//! with `HTTP_CONTENT_ENCODING` (http-backend inflates it itself). Its
//! stdout is parsed as a CGI response: header lines up to the first blank
//! line, then the body, streamed to the client as it comes.
//! A `Status:` header that is empty, non-numeric or out of range, a header
//! block that never ends or is too long, or no output at all becomes an HTTP
//! 500, never a panic (the seed crashed its handler thread on an empty
//! `Status:`). The whole run is bounded by a timeout; on expiry, or when
//! the client goes away, the program is killed with everything it started
//! (it leads its own process group) and the response ends. A request body
//! that pauses too long is cut off (stdin closed). A run answering a push
//! ([`CgiRequest::memory`]) starts under a memory bound and has its answer
//! watched for git running out of it (see [`crate::receive_memory`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::receive_memory::{OutOfMemoryWatch, ReceiveMemory};

/// The most bytes of CGI headers read before giving up (HTTP 500).
pub const MAX_CGI_HEADER_BYTES: usize = 64 * 1024;
/// Size of each read from the program's stdout.
pub const CGI_READ_CHUNK_BYTES: usize = 64 * 1024;
/// Frames buffered between the program and a slow client.
pub const CGI_BODY_CHANNEL_FRAMES: usize = 16;
/// The most bytes of the program's stderr kept for the log.
pub const MAX_CGI_STDERR_BYTES: usize = 16 * 1024;

/// A parsed CGI header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Why a CGI header block was refused (answered with HTTP 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgiHeadError {
    #[error("the CGI program printed nothing")]
    Empty,
    #[error("the CGI headers did not end within {MAX_CGI_HEADER_BYTES} bytes")]
    TooLong,
    #[error("the CGI headers ended before the blank line")]
    Unterminated,
    #[error("CGI header line {0:?} has no `:`")]
    NoColon(String),
    #[error("CGI header {0:?} is not a valid HTTP header")]
    BadHeader(String),
    #[error("CGI Status {0:?} is not a three-digit HTTP status")]
    BadStatus(String),
}

/// Find the end of a CGI header block: the offset of the first body byte.
/// Accepts `\n\n` and `\r\n\r\n`.
pub fn header_end(buffer: &[u8]) -> Option<usize> {
    let mut index = 0;
    while let Some(offset) = buffer[index..].iter().position(|byte| *byte == b'\n') {
        let newline = index + offset;
        let rest = &buffer[newline + 1..];
        if rest.starts_with(b"\n") {
            return Some(newline + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(newline + 3);
        }
        index = newline + 1;
    }
    None
}

/// Parse a CGI header block (without the blank line). `Status: NNN reason`
/// sets the status (default 200); other lines become response headers.
pub fn parse_head(block: &[u8]) -> Result<CgiHead, CgiHeadError> {
    let text = String::from_utf8_lossy(block);
    let mut status = StatusCode::OK;
    let mut headers = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(CgiHeadError::NoColon(line.to_string()));
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("");
            status = code
                .parse::<u16>()
                .ok()
                .filter(|_| code.len() == 3)
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| CgiHeadError::BadStatus(value.to_string()))?;
            continue;
        }
        let header_name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| CgiHeadError::BadHeader(line.to_string()))?;
        let header_value =
            HeaderValue::from_str(value).map_err(|_| CgiHeadError::BadHeader(line.to_string()))?;
        headers.push((header_name, header_value));
    }
    Ok(CgiHead { status, headers })
}

/// A response body fed by a channel from the task that reads the program.
///
/// A run cut off at its bound ([`CutOff::cut`] before the sender is
/// dropped) ends the body in an error, not a clean end: the client sees a
/// broken transfer (hyper closes the connection without the last chunk,
/// curl reports it, `git push` fails). A clean end in the middle of git's
/// protocol left `git push` (its `send-pack` and `remote-http` each
/// waiting on the other) waiting for ever.
pub struct ChannelBody {
    receiver: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    cut: CutOff,
}

/// Marks a [`ChannelBody`]'s run as cut off (see there).
#[derive(Clone, Default)]
pub struct CutOff(Arc<AtomicBool>);

impl CutOff {
    /// The run was cut off: once its output is sent, the body ends in an
    /// error.
    pub fn cut(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it was, clearing the mark (the error is told once).
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl ChannelBody {
    /// A body, the sender that feeds it and its cut-off mark.
    pub fn channel() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, CutOff, Self) {
        let (sender, receiver) = mpsc::channel(CGI_BODY_CHANNEL_FRAMES);
        let cut = CutOff::default();
        (sender, cut.clone(), Self { receiver, cut })
    }

    /// A body with these bytes and nothing more.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let (sender, _, body) = Self::channel();
        let _ = sender.try_send(Ok(bytes.into()));
        body
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.receiver.poll_recv(context) {
            Poll::Ready(None) if self.cut.take() => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "git http-backend was cut off at its time bound",
            )))),
            polled => polled.map(|item| item.map(|result| result.map(Frame::data))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// One `git http-backend` invocation.
#[derive(Debug, Clone)]
pub struct CgiRequest {
    /// `GIT_PROJECT_ROOT`: the directory holding the mirrors.
    pub project_root: PathBuf,
    /// `PATH_INFO`: `/<name>.git/<rest>`.
    pub path_info: String,
    pub query: String,
    pub method: String,
    pub content_type: Option<String>,
    /// `Content-Encoding` of the request body (`gzip` is inflated by git).
    pub content_encoding: Option<String>,
    /// The `Git-Protocol` header (`version=2`), already validated.
    pub git_protocol: Option<String>,
    pub remote_addr: String,
    /// Extra environment (the hook session directory).
    pub extra_env: HashMap<String, String>,
    /// Bound on the whole run.
    pub timeout: Duration,
    /// Longest pause between two pieces of the request body: past it the
    /// program's stdin is closed, so it sees a cut request.
    pub body_idle: Duration,
    /// A push's run: git's memory bound (`RLIMIT_DATA`, `pack.threads`),
    /// and the gate's message after git's own when it runs out.
    pub memory: Option<ReceiveMemory>,
}

/// A request body: bytes already read (see [`crate::push_request`]),
/// then whatever is left of the client's body.
pub struct RequestBody {
    pub prefix: Bytes,
    pub rest: Option<Incoming>,
}

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        Self {
            prefix: Bytes::new(),
            rest: Some(body),
        }
    }
}

/// What came back: the parsed head (or why it was refused) and the body.
pub struct CgiResponse {
    pub head: Result<CgiHead, CgiHeadError>,
    pub body: ChannelBody,
}

/// How long a finished (or killed) run's stderr may take to reach EOF.
pub const STDERR_DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Kill `child`'s process group (it leads one: see [`run`]), then `child`
/// itself should the group be gone already.
fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
        && let Err(error) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL)
    {
        tracing::warn!(error = %error, "cannot kill git http-backend's process group");
    }
    let _ = child.start_kill();
}

/// Run `git http-backend`, feeding it `body`. Returns once the headers are
/// read (or refused); the body keeps streaming from a background task that
/// also enforces the timeout. `on_exit` is dropped when the program has
/// exited (use it to hold a lock for exactly that long).
pub async fn run<G: Send + 'static>(
    request: CgiRequest,
    body: impl Into<RequestBody>,
    on_exit: G,
) -> Result<CgiResponse, std::io::Error> {
    let body: RequestBody = body.into();
    run_body(request, body, on_exit).await
}

async fn run_body<G: Send + 'static>(
    request: CgiRequest,
    body: RequestBody,
    on_exit: G,
) -> Result<CgiResponse, std::io::Error> {
    let mut command = match &request.memory {
        None => {
            let mut command = Command::new("git");
            command.arg("http-backend");
            command
        }
        Some(memory) => {
            // The limit is set by the shell that then becomes git, so
            // git and all it starts run under it from their first
            // instruction; if it cannot be set, nothing runs.
            let mut command = Command::new("sh");
            command.args([
                "-c",
                "ulimit -d \"$1\" && exec git http-backend",
                "sh",
                &memory.ulimit_kib().to_string(),
            ]);
            command
        }
    };
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &request.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("PATH_INFO", &request.path_info)
        .env("QUERY_STRING", &request.query)
        .env("REQUEST_METHOD", &request.method)
        .env("REMOTE_ADDR", &request.remote_addr)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        // No replace refs for receive-pack, its hook or upload-pack (see
        // `crate::git`).
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a run past its bound can be
        // ended with everything under it (receive-pack, upload-pack,
        // pack-objects, the hook).
        .process_group(0)
        .kill_on_drop(true);
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    if let Some(content_type) = &request.content_type {
        command.env("CONTENT_TYPE", content_type);
    }
    if let Some(encoding) = &request.content_encoding {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = &request.git_protocol {
        command.env("GIT_PROTOCOL", protocol);
    }
    for (name, value) in &request.extra_env {
        command.env(name, value);
    }
    if let Some(memory) = &request.memory {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "pack.threads")
            .env("GIT_CONFIG_VALUE_0", memory.threads.to_string());
    }
    let mut child = command.spawn()?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(std::io::Error::other("http-backend pipes missing"));
    };

    // Request body → stdin. A client that stops sending mid-body gets
    // stdin closed after `body_idle`: git reads the end of a cut request
    // (receive-pack an incomplete pack), refuses it and exits, and the run
    // ends the ordinary way.
    let body_idle = request.body_idle;
    let idle_path = request.path_info.clone();
    let feeder = tokio::spawn(async move {
        let RequestBody { prefix, rest } = body;
        if !prefix.is_empty() && stdin.write_all(&prefix).await.is_err() {
            let _ = stdin.shutdown().await;
            return;
        }
        let Some(mut body) = rest else {
            let _ = stdin.shutdown().await;
            return;
        };
        loop {
            let frame = match tokio::time::timeout(body_idle, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None | Some(Err(_))) => break,
                Err(_) => {
                    tracing::warn!(path = %idle_path, idle_secs = body_idle.as_secs(), "the client stopped sending its request body; cut off");
                    break;
                }
            };
            if let Ok(data) = frame.into_data()
                && stdin.write_all(&data).await.is_err()
            {
                break;
            }
        }
        let _ = stdin.shutdown().await;
    });
    // stderr → log, bounded.
    let path_info = request.path_info.clone();
    let stderr_task = tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(read) = stderr.read(&mut chunk).await {
            if read == 0 {
                break;
            }
            if kept.len() < MAX_CGI_STDERR_BYTES {
                kept.extend_from_slice(&chunk[..read.min(MAX_CGI_STDERR_BYTES - kept.len())]);
            }
        }
        if !kept.is_empty() {
            tracing::warn!(path = %path_info, stderr = %String::from_utf8_lossy(&kept).trim_end(), "git http-backend wrote to stderr");
        }
    });

    let (head_sender, head_receiver) = tokio::sync::oneshot::channel();
    let (body_sender, cut_off, body) = ChannelBody::channel();
    let timeout = request.timeout;
    let path_info = request.path_info.clone();
    let mut watch = request.memory.as_ref().map(OutOfMemoryWatch::new);
    let memory_bytes = request.memory.map_or(0, |memory| memory.data_bytes);
    tokio::spawn(async move {
        let work = async {
            let mut buffer = Vec::new();
            let mut chunk = vec![0u8; CGI_READ_CHUNK_BYTES];
            // Headers.
            let head = loop {
                if let Some(end) = header_end(&buffer) {
                    let head = parse_head(&buffer[..end]);
                    let rest = buffer.split_off(end);
                    break head.map(|head| (head, rest));
                }
                if buffer.len() > MAX_CGI_HEADER_BYTES {
                    break Err(CgiHeadError::TooLong);
                }
                match stdout.read(&mut chunk).await {
                    Ok(0) | Err(_) => {
                        break Err(if buffer.is_empty() {
                            CgiHeadError::Empty
                        } else {
                            CgiHeadError::Unterminated
                        });
                    }
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
            };
            let rest = match head {
                Ok((head, rest)) => {
                    let _ = head_sender.send(Ok(head));
                    rest
                }
                Err(error) => {
                    let _ = head_sender.send(Err(error));
                    return;
                }
            };
            let rest = relay(&mut watch, &rest, &path_info, memory_bytes);
            if !rest.is_empty() && body_sender.send(Ok(rest)).await.is_err() {
                kill_group(&mut child);
                return;
            }
            loop {
                match stdout.read(&mut chunk).await {
                    Ok(0) => {
                        if let Some(left) = watch.as_mut().map(OutOfMemoryWatch::finish)
                            && !left.is_empty()
                        {
                            let _ = body_sender.send(Ok(Bytes::from(left))).await;
                        }
                        break;
                    }
                    Ok(read) => {
                        let piece = relay(&mut watch, &chunk[..read], &path_info, memory_bytes);
                        if piece.is_empty() {
                            continue;
                        }
                        if body_sender.send(Ok(piece)).await.is_err() {
                            // The client went away: stop the program and
                            // everything under it (a push it was making
                            // must not go on without it).
                            kill_group(&mut child);
                            break;
                        }
                    }
                    Err(error) => {
                        let _ = body_sender.send(Err(error)).await;
                        break;
                    }
                }
            }
            let _ = child.wait().await;
        };
        if tokio::time::timeout(timeout, work).await.is_err() {
            tracing::warn!(path = %path_info, timeout_secs = timeout.as_secs(), "git http-backend timed out; killed");
            kill_group(&mut child);
            cut_off.cut();
        }
        feeder.abort();
        drop(stdout);
        // A program gone leaves its stderr at EOF; this bound only guards
        // against a descendant that escaped the group keeping it open.
        let _ = tokio::time::timeout(STDERR_DRAIN_WAIT, stderr_task).await;
        drop(on_exit);
    });
    let head = head_receiver.await.unwrap_or(Err(CgiHeadError::Empty));
    Ok(CgiResponse { head, body })
}

/// A piece of the program's output as it goes to the client: as it is, or
/// through the out-of-memory watch of a push's run (which logs once when
/// git's message goes by).
fn relay(
    watch: &mut Option<OutOfMemoryWatch>,
    piece: &[u8],
    path: &str,
    limit_bytes: u64,
) -> Bytes {
    let Some(watch) = watch.as_mut() else {
        return Bytes::copy_from_slice(piece);
    };
    let was_seen = watch.seen();
    let out = watch.relay(piece);
    if watch.seen() && !was_seen {
        tracing::warn!(path = %path, limit_bytes, "push refused: git ran out of the memory the gate lets it take while receiving the pack");
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_end_finds_both_line_endings() {
        assert_eq!(header_end(b"A: b\n\nbody"), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), Some(8));
        assert_eq!(header_end(b"A: b\r\nC: d\r\n"), None);
        assert_eq!(header_end(b""), None);
    }

    #[test]
    fn status_and_headers_parse() {
        let head = parse_head(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n").unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.headers[0].0, "content-type");
        let head = parse_head(b"Content-Type: application/x-git-upload-pack-result\n").unwrap();
        assert_eq!(head.status, StatusCode::OK);
    }

    #[test]
    fn broken_status_lines_are_errors_not_panics() {
        for (block, expected) in [
            (&b"Status:\n"[..], CgiHeadError::BadStatus(String::new())),
            (b"Status: \r\n", CgiHeadError::BadStatus(String::new())),
            (b"Status: abc\n", CgiHeadError::BadStatus("abc".into())),
            (
                b"Status: 99999 Big\n",
                CgiHeadError::BadStatus("99999 Big".into()),
            ),
            (
                b"Status: 20 Short\n",
                CgiHeadError::BadStatus("20 Short".into()),
            ),
            (b"Status: 1000\n", CgiHeadError::BadStatus("1000".into())),
            (b"Status: -20\n", CgiHeadError::BadStatus("-20".into())),
            (b"garbage\n", CgiHeadError::NoColon("garbage".into())),
            (
                b"Bad Name: x\n",
                CgiHeadError::BadHeader("Bad Name: x".into()),
            ),
        ] {
            assert_eq!(
                parse_head(block),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(block)
            );
        }
    }
}
