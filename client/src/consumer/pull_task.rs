//! One queue's pull loop: find the start offset, keep one long-polling pull
//! in flight, push what arrives into the consumer's buffer (waiting while it
//! is full), and ride out broker trouble with backoff and route refreshes.

use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{
    GetMaxOffsetRequest, GetMinOffsetRequest, QueryConsumerOffsetRequest,
};
use ferromq_protocol::{QueueOffset, StoredMessage};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::pull::{pull_once, PullSpec, Pulled, BACKOFF_MAX, BACKOFF_MIN, EMPTY_PAUSE, FAST_EMPTY};
use super::pull_consumer::Shared;
use super::ConsumeFrom;
use crate::error::{ClientError, Result};
use crate::route::MessageQueue;

pub(super) struct PullTask {
    shared: Arc<Shared>,
    queue: Arc<MessageQueue>,
    backoff: Duration,
    /// The replica the last answer suggested (0: the master).
    suggested: u64,
}

impl PullTask {
    pub(super) fn new(shared: Arc<Shared>, queue: MessageQueue) -> Self {
        Self {
            shared,
            queue: Arc::new(queue),
            backoff: BACKOFF_MIN,
            suggested: 0,
        }
    }

    pub(super) async fn run(mut self) {
        let cancel = self.shared.cancel.clone();
        let mut offset = None;
        while !cancel.is_cancelled() {
            let step = async {
                let addr = self.broker_addr().await?;
                let from = match offset {
                    Some(o) => o,
                    None => self.start_offset(&addr).await?,
                };
                offset = Some(from);
                let started = Instant::now();
                let (pulled, suggested) = self.pull(&addr, from).await?;
                Ok::<_, ClientError>((pulled, started.elapsed(), suggested))
            };
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = step => r,
            };
            let result = result.map(|(pulled, took, suggested)| {
                self.suggested = suggested;
                (pulled, took)
            });
            match result {
                Ok((Pulled::Messages(msgs, next), _)) => {
                    self.backoff = BACKOFF_MIN;
                    if !self.push(msgs).await {
                        return;
                    }
                    offset = Some(next);
                }
                Ok((Pulled::Nothing(next) | Pulled::Skipped(next), took)) => {
                    self.backoff = BACKOFF_MIN;
                    offset = Some(next);
                    if took < FAST_EMPTY {
                        self.pause(EMPTY_PAUSE).await;
                    }
                }
                Ok((Pulled::Moved(next), _)) => {
                    warn!(queue = %self.queue, from = ?offset, to = %next,
                        "pull offset is outside the queue (messages expired or queue reset); jumping");
                    offset = Some(next);
                }
                Err(e) => self.failed(e).await,
            }
        }
    }

    async fn failed(&mut self, e: ClientError) {
        warn!(queue = %self.queue, error = %e, retry_in_ms = self.backoff.as_millis() as u64, "pull failed");
        // The broker may have gone or the topic moved: look again.
        if e.is_retryable() || matches!(e, ClientError::NoRoute(_)) {
            if let Err(e) = self.shared.client.refresh_route(&self.queue.topic).await {
                debug!(queue = %self.queue, error = %e, "route refresh after a failed pull failed");
            }
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.pause(wait).await;
    }

    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = self.shared.cancel.cancelled() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }

    /// The master, or a slave while the master is unreachable or when
    /// the broker suggested one.
    async fn broker_addr(&self) -> Result<String> {
        let q = &self.queue;
        self.shared
            .client
            .read_addr_suggested(&q.topic, &q.broker_name, self.suggested)
            .await
    }

    /// The committed offset, else the start [`ConsumeFrom`] asks for. Also
    /// records it as the queue's position.
    async fn start_offset(&self, addr: &str) -> Result<QueueOffset> {
        let (client, q) = (&self.shared.client, &self.queue);
        let committed = client
            .call_header(
                addr,
                &QueryConsumerOffsetRequest {
                    consumer_group: self.shared.group.clone(),
                    topic: q.topic.clone(),
                    queue_id: q.queue_id,
                },
            )
            .await?
            .offset;
        let (start, from_commit) = match (committed, self.shared.settings.consume_from) {
            (Some(o), _) => (o, true),
            (None, ConsumeFrom::FirstOffset) => {
                let req = GetMinOffsetRequest {
                    topic: q.topic.clone(),
                    queue_id: q.queue_id,
                };
                (client.call_header(addr, &req).await?.offset, false)
            }
            (None, ConsumeFrom::LastOffset) => {
                let req = GetMaxOffsetRequest {
                    topic: q.topic.clone(),
                    queue_id: q.queue_id,
                };
                (client.call_header(addr, &req).await?.offset, false)
            }
        };
        debug!(queue = %q, offset = %start, from_commit, "pull start offset");
        self.shared.positions.start(q, start, from_commit);
        Ok(start)
    }

    async fn pull(&self, addr: &str, offset: QueueOffset) -> Result<(Pulled, u64)> {
        let s = &self.shared.settings;
        let spec = PullSpec {
            group: &self.shared.group,
            queue: &self.queue,
            batch: s.pull_batch_size,
            hold: s.long_poll_hold,
            expression: None,
        };
        pull_once(&self.shared.client, addr, &spec, offset).await
    }

    /// Puts a batch into the buffer in order, waiting for room for all of
    /// it. Returns false once the consumer is gone.
    async fn push(&self, mut msgs: Vec<StoredMessage>) -> bool {
        let shared = &self.shared;
        let capacity = shared.settings.buffer_capacity;
        while !msgs.is_empty() {
            // The builder keeps a pull batch within the capacity; a broker
            // that sends more is handed over in parts that fit.
            let rest = if msgs.len() > capacity {
                msgs.split_off(capacity)
            } else {
                Vec::new()
            };
            let n = u32::try_from(msgs.len()).unwrap_or(u32::MAX);
            let permit = tokio::select! {
                _ = shared.cancel.cancelled() => return false,
                p = shared.room.acquire_many(n) => p,
            };
            let Ok(permit) = permit else { return false };
            // Given back by `poll` as it takes the messages out.
            permit.forget();
            if shared.tx.send((self.queue.clone(), msgs)).is_err() {
                return false;
            }
            msgs = rest;
        }
        !shared.cancel.is_cancelled()
    }
}
