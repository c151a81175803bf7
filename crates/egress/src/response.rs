//! The upstream's response body on its way back to the agent: streamed
//! frame by frame, never buffered, with an idle deadline, the route's
//! injected credential masked if the upstream echoes it ([`Mask`]) and,
//! under `log: full`, a scrubbed excerpt logged when it ends.
//!
//! What an upstream failure says is the upstream's too: hyper's and h2's
//! errors print an HTTP/2 GOAWAY's debug data, which is whatever bytes the
//! upstream chose (an echo of the request's `Authorization` among them).
//! [`upstream_error_text`] renders a failure's chain with every GOAWAY told
//! by its reason code alone, its debug data never shown; the proxy masks
//! the result with the route's [`Mask`] before the agent (a 502) or the log
//! sees it, and a response body that fails midway ends with an
//! [`UpstreamBodyError`] built the same way.
//!
//! The deadline is on silence, not on length: every frame from the upstream
//! pushes it [`UPSTREAM_BODY_IDLE_TIMEOUT`] further, so a healthy long
//! stream (server-sent events, a model thinking aloud) is never cut, while
//! an upstream that stops sending mid-body cannot hold the agent's request
//! (and the proxy's connection) forever: the body then ends with an error,
//! which the agent sees as a truncated response (HTTP/1.1) or a reset
//! stream (HTTP/2).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};

/// How long the upstream may go without sending a byte of a response body
/// before the proxy gives up on it.
pub const UPSTREAM_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The error a body ends with when the upstream went silent.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing for {} s in the middle of the response body", .0.as_secs_f64())]
pub struct IdleTimeout(pub Duration);

/// A response body that failed midway, as the agent's connection (and
/// hyper's log lines about it) are told it: [`upstream_error_text`],
/// masked. For an HTTP/2 agent the stream is reset with the upstream's
/// HTTP/2 reason code, when there is one ([`UpstreamBodyError::source`]
/// is an `h2` error carrying that code only).
#[derive(Debug)]
pub struct UpstreamBodyError {
    text: String,
    reason: Option<h2::Error>,
}

impl UpstreamBodyError {
    /// `error` told as [`upstream_error_text`] does, masked by `mask`.
    pub fn new(error: &(dyn std::error::Error + 'static), mask: Option<&Mask>) -> Self {
        let text = upstream_error_text(error);
        let text = match mask {
            Some(mask) => mask.masked_text(&text),
            None => text,
        };
        Self {
            text,
            reason: h2_reason(error).map(h2::Error::from),
        }
    }
}

impl std::fmt::Display for UpstreamBodyError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "the upstream's response body failed: {}",
            self.text
        )
    }
}

impl std::error::Error for UpstreamBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason
            .as_ref()
            .map(|reason| reason as &(dyn std::error::Error + 'static))
    }
}

/// The HTTP/2 reason code somewhere in `error`'s chain.
fn h2_reason(error: &(dyn std::error::Error + 'static)) -> Option<h2::Reason> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(h2_error) = as_h2(cause) {
            return h2_error.reason();
        }
        current = cause.source();
    }
    None
}

/// `error` as an h2 error, itself or inside an I/O error (whose `source`
/// skips it, but whose text is its text).
fn as_h2<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a h2::Error> {
    error.downcast_ref::<h2::Error>().or_else(|| {
        error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<h2::Error>())
    })
}

/// An upstream failure and its causes, `: `-joined, with every HTTP/2
/// GOAWAY told by who sent it and its reason code only: its debug data is
/// the upstream's own bytes (h2 prints them), never shown. The other
/// errors under the proxy's upstream client (hyper's, h2's resets, I/O,
/// rustls) print their own words and codes; text the upstream might still
/// have put there (a certificate's names in a TLS error) is for the
/// caller's [`Mask`].
pub fn upstream_error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(h2_error) = as_h2(cause) {
            parts.push(h2_error_text(h2_error));
            // An h2 error has no source: its I/O error, if any, is in
            // its own text.
            break;
        }
        parts.push(cause.to_string());
        current = cause.source();
    }
    parts.join(": ")
}

/// An h2 error without a GOAWAY's debug data.
fn h2_error_text(error: &h2::Error) -> String {
    if !error.is_go_away() {
        // Resets, reason codes, misuse and I/O: no peer bytes in the text.
        return error.to_string();
    }
    let who = if error.is_remote() {
        "received"
    } else if error.is_library() {
        "detected"
    } else {
        "sent"
    };
    let reason = error
        .reason()
        .map_or_else(|| "no reason code".to_string(), |reason| reason.to_string());
    format!("connection error {who} (HTTP/2 GOAWAY): {reason}; its debug data is not shown")
}

/// Turns the first bytes of a response body into a log line (`log: full`):
/// called once, when the body ends, with what was kept and the total size.
pub type ExcerptLogger = Box<dyn FnOnce(&[u8], u64) + Send + Sync>;

/// Called once, if the deadline passes (to log it).
pub type IdleReport = Box<dyn FnOnce() + Send + Sync>;

/// What `log: full` keeps of a response body.
struct Excerpt {
    kept: Vec<u8>,
    limit: usize,
    total: u64,
    logger: Option<ExcerptLogger>,
}

impl Excerpt {
    fn take(&mut self, data: &Bytes) {
        self.total += data.len() as u64;
        let room = self.limit.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&data[..room.min(data.len())]);
    }

    fn finish(&mut self) {
        if let Some(logger) = self.logger.take() {
            logger(&self.kept, self.total);
        }
    }
}

impl Drop for Excerpt {
    fn drop(&mut self) {
        // A body the agent stopped reading (or that failed) is logged too,
        // with what came through.
        self.finish();
    }
}

/// Masks every occurrence of one value (the credential the proxy injected)
/// in a stream of chunks, with as many `*`, so the length is unchanged (a
/// `Content-Length` stays true). An upstream that echoes the request's
/// `Authorization` (a debug endpoint, an error page) would otherwise hand
/// the agent the very credential it must never hold. The value is masked
/// as it is and as such pages transform it ([`Mask::variants`]): base64
/// (standard and URL-safe, at each of the three byte alignments, so inside
/// `base64("user:" + token)` too), hex in either case, percent-encoded and
/// JSON-escaped. Only the longest tail of a chunk that could begin one of
/// them is held back until the next chunk, so a stream (server-sent events)
/// is not delayed otherwise.
pub struct Mask {
    /// The longest variant's length.
    longest: usize,
    variants: Vec<Vec<u8>>,
    finder: aho_corasick::AhoCorasick,
    /// The variants in any ASCII case, for header names (which HTTP
    /// lower-cases).
    name_finder: aho_corasick::AhoCorasick,
    carry: BytesMut,
}

/// The shortest transformed form of the value that is masked: a shorter
/// one (a short token's base64 core) could match unrelated text.
pub const MIN_MASKED_VARIANT_LEN: usize = 16;

impl Mask {
    /// A mask for `value`; `None` for an empty value.
    pub fn new(value: &[u8]) -> Option<Self> {
        if value.is_empty() {
            return None;
        }
        let variants = Self::variants(value);
        let finder = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&variants)
            .ok()?;
        let name_finder = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&variants)
            .ok()?;
        Some(Self {
            longest: variants.iter().map(Vec::len).max().unwrap_or(0),
            variants,
            finder,
            name_finder,
            carry: BytesMut::new(),
        })
    }

    /// `value` and the forms an echo may show it in, each at least
    /// [`MIN_MASKED_VARIANT_LEN`] long (the value itself always).
    pub fn variants(value: &[u8]) -> Vec<Vec<u8>> {
        use base64::Engine as _;
        let mut variants = vec![value.to_vec()];
        let mut more = Vec::new();
        // base64: the characters that carry only the value's bits, with
        // the value starting at each byte alignment.
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(value);
            let first = (offset * 8).div_ceil(6);
            let end = (offset + value.len()) * 8 / 6;
            for engine in [
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                let encoded = engine.encode(&shifted).into_bytes();
                if let Some(core) = encoded.get(first..end) {
                    more.push(core.to_vec());
                }
            }
        }
        let hex: Vec<u8> = value
            .iter()
            .flat_map(|byte| format!("{byte:02x}").into_bytes())
            .collect();
        more.push(hex.to_ascii_uppercase());
        more.push(hex);
        // Percent-encoded as the common encoders do: RFC 3986 (`-._~`
        // kept), every byte but letters and digits, Python's `quote`
        // (`/` kept too), JavaScript's `encodeURIComponent`; hex digits in
        // either case.
        for safe in [&b"-._~"[..], b"", b"-._~/", b"-_.!~*'()"] {
            for upper in [true, false] {
                more.push(
                    value
                        .iter()
                        .flat_map(|&byte| {
                            if byte.is_ascii_alphanumeric() || safe.contains(&byte) {
                                vec![byte]
                            } else if upper {
                                format!("%{byte:02X}").into_bytes()
                            } else {
                                format!("%{byte:02x}").into_bytes()
                            }
                        })
                        .collect(),
                );
            }
        }
        more.push(
            value
                .iter()
                .flat_map(|&byte| {
                    if byte == b'/' {
                        b"\\/".to_vec()
                    } else {
                        vec![byte]
                    }
                })
                .collect(),
        );
        for variant in more {
            if variant.len() >= MIN_MASKED_VARIANT_LEN && !variants.contains(&variant) {
                variants.push(variant);
            }
        }
        variants
    }

    /// Every value of `headers` with the value masked, and every header
    /// whose name carries the value (in any case) removed.
    pub fn mask_headers(&self, headers: &mut http::HeaderMap) {
        let echoing: Vec<http::HeaderName> = headers
            .keys()
            .filter(|name| self.name_finder.is_match(name.as_str()))
            .cloned()
            .collect();
        for name in echoing {
            headers.remove(name);
        }
        for value in headers.values_mut() {
            let mut bytes = value.as_bytes().to_vec();
            self.mask_all(&mut bytes);
            if bytes != value.as_bytes()
                && let Ok(masked) = http::HeaderValue::from_bytes(&bytes)
            {
                *value = masked;
            }
        }
    }

    /// Mask `text` in place (a whole value: a header).
    pub fn mask_all(&self, text: &mut [u8]) {
        let found: Vec<std::ops::Range<usize>> = self
            .finder
            .find_iter(&*text)
            .map(|found| found.range())
            .collect();
        for range in found {
            text[range].fill(b'*');
        }
    }

    /// `text` with the value masked (a whole text: an error message).
    pub fn masked_text(&self, text: &str) -> String {
        let mut bytes = text.as_bytes().to_vec();
        self.mask_all(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The next chunk: what can be passed on now (possibly empty).
    pub fn chunk(&mut self, data: &[u8]) -> Bytes {
        self.carry.extend_from_slice(data);
        let mut buffer = std::mem::take(&mut self.carry);
        self.mask_all(&mut buffer);
        // Hold back the longest tail that is a proper prefix of a variant.
        let longest = self.longest.saturating_sub(1).min(buffer.len());
        let held = (1..=longest)
            .rev()
            .find(|&length| {
                let tail = &buffer[buffer.len() - length..];
                self.variants
                    .iter()
                    .any(|variant| variant.len() > length && variant.starts_with(tail))
            })
            .unwrap_or(0);
        self.carry = buffer.split_off(buffer.len() - held);
        buffer.freeze()
    }

    /// What is still held back, at the end of the stream.
    pub fn finish(&mut self) -> Bytes {
        std::mem::take(&mut self.carry).freeze()
    }
}

/// A response body with the idle deadline (and the optional mask and
/// excerpt).
pub struct StreamedBody<B> {
    inner: B,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    mask: Option<Mask>,
    /// A frame that came while masked bytes were still held back.
    pending: Option<Frame<Bytes>>,
    ended: bool,
    excerpt: Option<Excerpt>,
    on_idle: Option<IdleReport>,
    /// `inner`'s errors are the upstream's: told as [`UpstreamBodyError`].
    from_upstream: bool,
}

impl<B> StreamedBody<B> {
    /// `inner` with a deadline of `idle` between frames.
    pub fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            mask: None,
            pending: None,
            ended: false,
            excerpt: None,
            on_idle: None,
            from_upstream: false,
        }
    }

    /// `inner` is an upstream's response body: an error it ends with is
    /// passed on as an [`UpstreamBodyError`] (no GOAWAY debug data, the
    /// mask applied), not as it came.
    pub fn from_upstream(mut self) -> Self {
        self.from_upstream = true;
        self
    }

    /// Mask `mask`'s value wherever it appears in the body.
    pub fn with_mask(mut self, mask: Option<Mask>) -> Self {
        self.mask = mask;
        self
    }

    /// Keep the first `limit` bytes and hand them to `logger` at the end.
    pub fn with_excerpt(mut self, limit: usize, logger: ExcerptLogger) -> Self {
        self.excerpt = Some(Excerpt {
            kept: Vec::new(),
            limit,
            total: 0,
            logger: Some(logger),
        });
        self
    }

    /// `report` is called once if the deadline passes.
    pub fn on_idle(mut self, report: IdleReport) -> Self {
        self.on_idle = Some(report);
        self
    }
}

impl<B> Body for StreamedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(frame) = this.pending.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            return match polled {
                Poll::Ready(Some(Ok(frame))) => {
                    let next = tokio::time::Instant::now() + this.idle;
                    this.deadline.as_mut().reset(next);
                    let frame = match (this.mask.as_mut(), frame.into_data()) {
                        (Some(mask), Ok(data)) => {
                            let passed = mask.chunk(&data);
                            if passed.is_empty() {
                                // All of it held back: wait for more.
                                continue;
                            }
                            Frame::data(passed)
                        }
                        (Some(mask), Err(mut other)) => {
                            // Trailers are headers the agent reads too.
                            if let Some(trailers) = other.trailers_mut() {
                                mask.mask_headers(trailers);
                            }
                            let held = mask.finish();
                            if held.is_empty() {
                                other
                            } else {
                                this.pending = Some(other);
                                Frame::data(held)
                            }
                        }
                        (None, Ok(data)) => Frame::data(data),
                        (None, Err(other)) => other,
                    };
                    if let (Some(excerpt), Some(data)) = (this.excerpt.as_mut(), frame.data_ref()) {
                        excerpt.take(data);
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(error))) => {
                    let error: Box<dyn std::error::Error + Send + Sync> = error.into();
                    if !this.from_upstream {
                        return Poll::Ready(Some(Err(error)));
                    }
                    // The upstream's error text (a GOAWAY's debug data)
                    // goes no further: hyper logs what the body ended
                    // with, and an HTTP/2 agent's reset carries its
                    // reason code only.
                    let error = UpstreamBodyError::new(&*error, this.mask.as_ref());
                    Poll::Ready(Some(Err(Box::new(error))))
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let held = this.mask.as_mut().map(Mask::finish).unwrap_or_default();
                    if !held.is_empty() {
                        if let Some(excerpt) = this.excerpt.as_mut() {
                            excerpt.take(&held);
                            excerpt.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(held))));
                    }
                    if let Some(excerpt) = this.excerpt.as_mut() {
                        excerpt.finish();
                    }
                    Poll::Ready(None)
                }
                Poll::Pending => match this.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        if let Some(report) = this.on_idle.take() {
                            report();
                        }
                        // Stay ended: the deadline does not fire twice.
                        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
                        this.deadline.as_mut().reset(far);
                        Poll::Ready(Some(Err(Box::new(IdleTimeout(this.idle)))))
                    }
                    Poll::Pending => Poll::Pending,
                },
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.pending.is_some() {
            return false;
        }
        if self.ended {
            return true;
        }
        let holding = self
            .mask
            .as_ref()
            .is_some_and(|mask| !mask.carry.is_empty());
        !holding && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    use super::*;

    /// A body fed from a channel, so a test decides when each frame comes.
    struct ReceiverBody(mpsc::Receiver<Bytes>);

    impl Body for ReceiverBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|next| next.map(|data| Ok(Frame::data(data))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_ends_the_body_with_an_error_after_the_idle_time() {
        let (sender, receiver) = mpsc::channel(4);
        let idle = Duration::from_secs(30);
        let reported = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&reported);
        let mut body = StreamedBody::new(ReceiverBody(receiver), idle)
            .on_idle(Box::new(move || *counter.lock().unwrap() += 1));
        sender.send(Bytes::from_static(b"first")).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "first");
        let started = tokio::time::Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(error.is::<IdleTimeout>(), "{error}");
        assert_eq!(started.elapsed(), idle);
        assert_eq!(*reported.lock().unwrap(), 1);
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_longer_than_the_idle_time_is_never_cut() {
        let (sender, receiver) = mpsc::channel(4);
        let idle = Duration::from_secs(30);
        let mut body = StreamedBody::new(ReceiverBody(receiver), idle);
        tokio::spawn(async move {
            for index in 0..20u8 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                sender.send(Bytes::from(vec![index])).await.unwrap();
            }
        });
        let mut received = Vec::new();
        let started = tokio::time::Instant::now();
        while let Some(frame) = body.frame().await {
            received.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(received, (0..20u8).collect::<Vec<_>>());
        assert!(started.elapsed() >= Duration::from_secs(400));
    }

    /// A body with the value at several places, cut into two or three
    /// chunks at every pair of positions, comes out as the whole body
    /// masked at once: the same length, no byte of the value left.
    #[tokio::test]
    async fn the_value_is_masked_wherever_the_chunks_cut_it() {
        let value = b"tok-9fK2mQ7xLp";
        let mut body = b"a tok-9fK2 tok-9fK2mQ7xLp, b".to_vec();
        body.extend_from_slice(value);
        body.extend_from_slice(b" end tok-9fK2mQ7xL");
        let mut whole = body.clone();
        Mask::new(value).unwrap().mask_all(&mut whole);
        assert_eq!(whole.len(), body.len());
        assert!(!whole.windows(value.len()).any(|window| window == value));
        assert!(
            whole.ends_with(b" end tok-9fK2mQ7xL"),
            "a prefix alone is not masked"
        );
        for first in 0..=body.len() {
            for second in first..=body.len() {
                let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                    Ok(Frame::data(Bytes::copy_from_slice(&body[..first]))),
                    Ok(Frame::data(Bytes::copy_from_slice(&body[first..second]))),
                    Ok(Frame::data(Bytes::copy_from_slice(&body[second..]))),
                ];
                let inner = StreamBody::new(futures_util::stream::iter(chunks));
                let masked =
                    StreamedBody::new(inner, Duration::from_secs(5)).with_mask(Mask::new(value));
                let collected = masked.collect().await.unwrap().to_bytes();
                assert_eq!(collected, whole, "cut at {first} and {second}");
            }
        }
    }

    /// An echo of the value transformed — base64 at any alignment and in
    /// either alphabet, hex, percent-encoded, JSON-escaped — is masked too,
    /// wherever a chunk boundary cuts it; the text around is left alone.
    #[tokio::test]
    async fn transformed_echoes_of_the_value_are_masked_across_chunks() {
        use base64::Engine as _;
        let value = b"aB/cd+Ef=gh_ij-kl/mnopQ~9";
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ];
        let mut forms: Vec<Vec<u8>> = Vec::new();
        for engine in &engines {
            for prefix in [&b""[..], b"u:", b"user:", b"Bearer "] {
                forms.push(engine.encode([prefix, &value[..]].concat()).into_bytes());
            }
        }
        let hex: String = value.iter().map(|byte| format!("{byte:02x}")).collect();
        forms.push(hex.clone().into_bytes());
        forms.push(hex.to_uppercase().into_bytes());
        let percent =
            percent_encoding::percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string();
        forms.push(percent.clone().into_bytes());
        // Lower-case hex digits, the token's own letters as they are.
        let mut lower_hex = String::new();
        let mut rest = percent.as_str();
        while let Some(at) = rest.find('%') {
            lower_hex.push_str(&rest[..at]);
            lower_hex.push_str(&rest[at..at + 3].to_ascii_lowercase());
            rest = &rest[at + 3..];
        }
        lower_hex.push_str(rest);
        forms.push(lower_hex.into_bytes());
        forms.push(b"aB\\/cd+Ef=gh_ij-kl\\/mnopQ~9".to_vec());
        let mut body = b"{".to_vec();
        for form in &forms {
            body.extend_from_slice(b"\"x\": \"");
            body.extend_from_slice(form);
            body.extend_from_slice(b"\", ");
        }
        body.extend_from_slice(b"}");
        let mut whole = body.clone();
        Mask::new(value).unwrap().mask_all(&mut whole);
        assert_eq!(whole.len(), body.len());
        // What is left of each form cannot give the value back.
        let text = String::from_utf8(whole.clone()).unwrap();
        for piece in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/-_=".contains(c))) {
            for engine in &engines {
                let decoded = engine.decode(piece).unwrap_or_default();
                assert!(
                    !decoded
                        .windows(6)
                        .any(|window| value.windows(6).any(|part| part == window)),
                    "{piece} decodes to part of the value: {text}"
                );
            }
            assert!(
                piece.len() < 12 || !hex.contains(&piece.to_lowercase()),
                "{text}"
            );
        }
        assert!(text.starts_with("{\"x\": \""), "{text}");
        for form in &forms {
            assert!(
                !text.contains(std::str::from_utf8(form).unwrap()),
                "{} is left: {text}",
                String::from_utf8_lossy(form)
            );
        }
        // Python's quote keeps `/`; encodeURIComponent keeps `~` and `!*'()`.
        const PYTHON_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~')
            .remove(b'/');
        let quoted =
            percent_encoding::utf8_percent_encode(std::str::from_utf8(value).unwrap(), PYTHON_SAFE)
                .to_string();
        let mut python = quoted.clone().into_bytes();
        Mask::new(value).unwrap().mask_all(&mut python);
        assert_eq!(python, vec![b'*'; quoted.len()], "{quoted}");
        for cut in 0..=body.len() {
            let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                Ok(Frame::data(Bytes::copy_from_slice(&body[..cut]))),
                Ok(Frame::data(Bytes::copy_from_slice(&body[cut..]))),
            ];
            let inner = StreamBody::new(futures_util::stream::iter(chunks));
            let masked =
                StreamedBody::new(inner, Duration::from_secs(5)).with_mask(Mask::new(value));
            let collected = masked.collect().await.unwrap().to_bytes();
            assert_eq!(collected, whole, "cut at {cut}");
        }
    }

    /// A short value is masked as it is; its transformed forms are not
    /// (too short to tell from other text).
    #[test]
    fn short_values_have_no_short_variants() {
        let variants = Mask::variants(b"tok-12345");
        assert_eq!(variants[0], b"tok-12345");
        assert!(
            variants
                .iter()
                .skip(1)
                .all(|variant| variant.len() >= MIN_MASKED_VARIANT_LEN)
        );
        let mut text = b"dG9rLTEyMzQ1 tok-12345".to_vec();
        Mask::new(b"tok-12345").unwrap().mask_all(&mut text);
        assert_eq!(text, b"dG9rLTEyMzQ1 *********");
    }

    /// A chunk with no tail that could begin the value is passed on whole
    /// at once: a stream is not held back.
    #[tokio::test]
    async fn a_chunk_that_cannot_begin_the_value_is_not_held_back() {
        let (sender, receiver) = mpsc::channel(4);
        let mut body = StreamedBody::new(ReceiverBody(receiver), Duration::from_secs(5))
            .with_mask(Mask::new(b"secret-value"));
        sender
            .send(Bytes::from_static(b"data: first event\n\n"))
            .await
            .unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: first event\n\n");
        sender
            .send(Bytes::from_static(b"data: secret-"))
            .await
            .unwrap();
        sender.send(Bytes::from_static(b"value!\n")).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: ");
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "************!\n");
        drop(sender);
        assert!(body.frame().await.is_none());
    }

    /// Trailers are headers the agent reads: masked too, after what was
    /// held back of the body.
    #[tokio::test]
    async fn trailers_are_masked_and_come_after_the_held_back_bytes() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(
            "x-echo",
            http::HeaderValue::from_static("Bearer secret-value"),
        );
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"body secret-"))),
            Ok(Frame::trailers(trailers)),
        ];
        let inner = StreamBody::new(futures_util::stream::iter(frames));
        let mut body =
            StreamedBody::new(inner, Duration::from_secs(5)).with_mask(Mask::new(b"secret-value"));
        let mut data = Vec::new();
        let mut seen_trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap();
            match frame.into_data() {
                Ok(bytes) => {
                    assert!(seen_trailers.is_none(), "data after the trailers");
                    data.extend_from_slice(&bytes);
                }
                Err(frame) => seen_trailers = frame.into_trailers().ok(),
            }
        }
        assert_eq!(data, b"body secret-");
        let trailers = seen_trailers.expect("the trailers came through");
        assert_eq!(trailers["x-echo"], "Bearer ************");
    }

    #[tokio::test]
    async fn the_excerpt_keeps_the_first_bytes_and_counts_them_all() {
        let logged = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&logged);
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"hello "))),
            Ok(Frame::data(Bytes::from_static(b"world, and more"))),
        ];
        let inner = StreamBody::new(futures_util::stream::iter(chunks));
        let body = StreamedBody::new(inner, Duration::from_secs(5)).with_excerpt(
            8,
            Box::new(move |kept, total| *sink.lock().unwrap() = Some((kept.to_vec(), total))),
        );
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, "hello world, and more");
        assert_eq!(
            logged.lock().unwrap().clone(),
            Some((b"hello wo".to_vec(), 21))
        );
    }

    #[tokio::test]
    async fn an_upstream_body_error_keeps_its_reset_code_and_loses_its_words() {
        // An h2 error under an I/O error, as hyper's chain has them.
        let reset = h2::Error::from(h2::Reason::REFUSED_STREAM);
        let under = std::io::Error::other(reset);
        let text = upstream_error_text(&under);
        assert!(text.contains("refused"), "{text}");
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"first "))),
            Err(std::io::Error::other(
                "upstream said secret-value-0123456789",
            )),
        ];
        let inner = StreamBody::new(futures_util::stream::iter(chunks));
        let error = StreamedBody::new(inner, Duration::from_secs(5))
            .from_upstream()
            .with_mask(Mask::new(b"secret-value-0123456789"))
            .collect()
            .await
            .err()
            .unwrap();
        let shown = error.to_string();
        assert!(!shown.contains("secret-value"), "{shown}");
        assert!(shown.contains("upstream said ****"), "{shown}");
        let body_error = UpstreamBodyError::new(&under, None);
        let source = std::error::Error::source(&body_error)
            .and_then(|source| source.downcast_ref::<h2::Error>())
            .and_then(h2::Error::reason);
        assert_eq!(source, Some(h2::Reason::REFUSED_STREAM));
        // Not from upstream (the agent's request body): passed on as it came.
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> =
            vec![Err(std::io::Error::other("the agent's words"))];
        let inner = StreamBody::new(futures_util::stream::iter(chunks));
        let error = StreamedBody::new(inner, Duration::from_secs(5))
            .collect()
            .await
            .err()
            .unwrap();
        assert_eq!(error.to_string(), "the agent's words");
    }

    #[test]
    fn masked_text_masks_every_form() {
        use base64::Engine as _;
        let mask = Mask::new(b"tok-0123456789abcdef").unwrap();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode("Bearer tok-0123456789abcdef");
        let text = format!("x tok-0123456789abcdef y {encoded} z");
        let masked = mask.masked_text(&text);
        assert!(!masked.contains("tok-0123"), "{masked}");
        assert!(!masked.contains(&encoded[12..]), "{masked}");
        assert!(masked.starts_with("x ****"), "{masked}");
    }
}
