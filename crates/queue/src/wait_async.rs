//! Waiting for the operator's answer from async code, holding no thread
//! (feature `tokio`).
//!
//! The sidecars hold many waits at once (every held request, push or tool
//! call). [`Queue::await_response`] looks for the answer every `interval`,
//! each look a short directory read on tokio's blocking pool, and sleeps on
//! tokio's timer between looks, so a wait costs a timer, not a thread. On
//! the deadline it expires the proposal (an answer that lands just then
//! still counts). [`Queue::wait_for_response`] is the blocking form, woken
//! by file notifications.

use std::time::Duration;

use crate::error::QueueError;
use crate::id::ProposalId;
use crate::model::{Actor, Response};
use crate::store::Queue;

/// How an unanswered proposal is expired at the deadline.
#[derive(Debug, Clone)]
pub struct Expiry {
    /// Recorded in the response (`no answer in 300 s`).
    pub reason: String,
    /// Who expires it.
    pub actor: Actor,
}

impl Queue {
    /// Wait up to `timeout` for the answer to proposal `id` (checked against
    /// its kind's rules), looking every `interval`; at the deadline expire
    /// it as `expiry` says and return that response — or the operator's,
    /// if it landed first. Does not archive. Errors: as
    /// [`Queue::poll_response`] and [`Queue::expire`].
    pub async fn await_response(
        &self,
        id: &ProposalId,
        timeout: Duration,
        interval: Duration,
        expiry: Expiry,
    ) -> Result<Response, QueueError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (queue, look) = (self.clone(), id.clone());
            if let Some(response) = self
                .on_blocking_pool(move || queue.poll_response(&look))
                .await?
            {
                return Ok(response);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
        }
        let (queue, expiring) = (self.clone(), id.clone());
        self.on_blocking_pool(move || queue.expire(&expiring, &expiry.reason, expiry.actor))
            .await
    }

    /// Run a short queue operation on tokio's blocking pool.
    pub async fn on_blocking_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(error) => Err(QueueError::Io {
                operation: "run a task on",
                path: self.dir().to_path_buf(),
                source: std::io::Error::other(error),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CapabilityBlock, Decision, DecisionKind, Payload};

    fn question(queue: &Queue) -> ProposalId {
        queue
            .propose(
                "dev",
                Payload::CapabilityBlock(CapabilityBlock { text: "x".into() }),
            )
            .unwrap()
            .id
    }

    fn expiry() -> Expiry {
        Expiry {
            reason: "no answer in 0 s".into(),
            actor: Actor::Supervise,
        }
    }

    #[tokio::test]
    async fn an_answer_arriving_during_the_wait_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let id = question(&queue);
        let answering = {
            let (queue, id) = (queue.clone(), id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                queue
                    .answer(&id, Decision::Answer { text: "yes".into() }, None, None)
                    .unwrap();
            })
        };
        let response = queue
            .await_response(
                &id,
                Duration::from_secs(10),
                Duration::from_millis(20),
                expiry(),
            )
            .await
            .unwrap();
        answering.await.unwrap();
        assert_eq!(response.decision, Decision::Answer { text: "yes".into() });
    }

    #[tokio::test]
    async fn nobody_answering_expires_it_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let id = question(&queue);
        let started = std::time::Instant::now();
        let response = queue
            .await_response(
                &id,
                Duration::from_millis(200),
                Duration::from_millis(20),
                expiry(),
            )
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(response.decision.kind(), DecisionKind::Expired);
        assert_eq!(response.reason.as_deref(), Some("no answer in 0 s"));
    }
}
