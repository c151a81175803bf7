//! The upstream's response body on its way back to the agent: streamed
//! frame by frame, never buffered, with an idle deadline and, under
//! `log: full`, a scrubbed excerpt logged when it ends.
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

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// How long the upstream may go without sending a byte of a response body
/// before the proxy gives up on it.
pub const UPSTREAM_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The error a body ends with when the upstream went silent.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing for {} s in the middle of the response body", .0.as_secs_f64())]
pub struct IdleTimeout(pub Duration);

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

/// A response body with the idle deadline (and the optional excerpt).
pub struct StreamedBody<B> {
    inner: B,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    excerpt: Option<Excerpt>,
    on_idle: Option<IdleReport>,
}

impl<B> StreamedBody<B> {
    /// `inner` with a deadline of `idle` between frames.
    pub fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            excerpt: None,
            on_idle: None,
        }
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
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                if let (Some(excerpt), Some(data)) = (this.excerpt.as_mut(), frame.data_ref()) {
                    excerpt.take(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => {
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
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
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
}
