//! The [`Producer`]: encodes messages once, picks a write queue, sends, and
//! on a retryable failure refreshes the route and retries on another broker
//! within the send timeout. With the latency fault strategy on (the
//! default) it also remembers how each broker's recent sends went and
//! avoids slow or failing brokers for a while (see `fault.rs`).

mod batch;
mod builder;
mod chooser;
mod fault;
mod future;
mod result;
mod unique_id;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::SendMessageRequest;
use ferromq_protocol::{BrokerName, GroupName, Message, TopicName};
use tokio::time::Instant;
use tracing::{debug, warn};

pub use builder::{ProducerBuilder, DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_BATCH_BYTES};
pub use future::SendFuture;
pub use result::{SendResult, SendStatus};

use self::batch::{encode_batch, EncodedBatch, Limits};
use self::chooser::QueueChooser;
use self::fault::{LatencyFaults, Unavailable};
use self::unique_id::UniqueIdGenerator;
use crate::error::{ClientError, Result};
use crate::route::{MessageQueue, TopicRoute};
use crate::MqClient;

/// Sends messages. Cheap to clone; clones share state.
///
/// Delivery is at least once: a send that timed out may still have been
/// stored, and its retry then stores it again (with the same unique id).
#[derive(Clone, Debug)]
pub struct Producer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: MqClient,
    group: Option<GroupName>,
    send_timeout: Duration,
    retries: u32,
    /// Size limits and compression, applied before anything is sent.
    limits: Limits,
    chooser: QueueChooser,
    /// Latest latency or error per broker; `None` with the latency fault
    /// strategy off.
    faults: Option<LatencyFaults>,
    ids: UniqueIdGenerator,
    born_host: SocketAddr,
}

/// Where a send may go.
#[derive(Clone, Copy, Debug)]
enum Target<'a> {
    /// Any write queue of the topic, chosen round-robin.
    AnyQueue,
    /// Exactly this queue (retries stay on it).
    Queue(&'a MessageQueue),
}

impl Producer {
    /// A builder with the defaults (3 s send timeout, 2 retries, 4 MiB
    /// message and batch limits, compression above 4 KiB).
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// The client this producer uses.
    pub fn client(&self) -> &MqClient {
        &self.inner.client
    }

    /// Sends one message to a write queue of its topic.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for an invalid message, e.g. a body
    /// over the maximum message size after compression (nothing is sent,
    /// nothing retried), [`ClientError::NoRoute`] for an unknown topic,
    /// otherwise the error of the last attempt.
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        let mut results = self.send_batch(vec![msg]).await?;
        results
            .pop()
            .ok_or_else(|| ClientError::Internal("a send of one message returned no result".into()))
    }

    /// Starts sending `msg` on a background task and returns at once.
    /// Must be called within a Tokio runtime.
    pub fn send_async(&self, msg: Message) -> SendFuture {
        let producer = self.clone();
        SendFuture::spawn(async move { producer.send(msg).await })
    }

    /// Sends messages of one topic as one request to one queue; they get
    /// consecutive queue offsets. Results are in the order of `msgs`.
    ///
    /// # Errors
    /// As [`Self::send`]; mixed topics and a batch whose encoded size is
    /// over [`ProducerBuilder::max_batch_bytes`] are invalid arguments.
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<Vec<SendResult>> {
        let batch = self.encode(msgs)?;
        self.send_encoded(&batch, Target::AnyQueue).await
    }

    /// Sends one message to exactly `queue` (e.g. for per-key ordering).
    /// Retries stay on that queue.
    ///
    /// # Errors
    /// As [`Self::send`]; a queue of another topic is an invalid argument.
    pub async fn send_to_queue(&self, msg: Message, queue: &MessageQueue) -> Result<SendResult> {
        if msg.topic != queue.topic {
            return Err(ClientError::InvalidArgument(format!(
                "message for topic {} sent to a queue of topic {}",
                msg.topic, queue.topic
            )));
        }
        let batch = self.encode(vec![msg])?;
        let mut results = self.send_encoded(&batch, Target::Queue(queue)).await?;
        results
            .pop()
            .ok_or_else(|| ClientError::Internal("a send of one message returned no result".into()))
    }

    fn encode(&self, msgs: Vec<Message>) -> Result<EncodedBatch> {
        let i = &self.inner;
        encode_batch(msgs, &i.ids, i.born_host, i.limits)
    }

    async fn send_encoded(
        &self,
        batch: &EncodedBatch,
        target: Target<'_>,
    ) -> Result<Vec<SendResult>> {
        let i = &self.inner;
        let deadline = Instant::now() + i.send_timeout;
        let timed_out = || ClientError::Timeout {
            addr: format!("topic {}", batch.topic),
            millis: i.send_timeout.as_millis(),
        };
        let mut failed: Vec<BrokerName> = Vec::new();
        let mut last_err = None;
        for attempt in 0..=i.retries {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            // After a failure the route is read again: the broker may be
            // gone from it, or no longer writable.
            let route = i.client.send_route(&batch.topic, attempt > 0);
            let route = match tokio::time::timeout(remaining, route).await {
                Ok(r) => r?,
                Err(_) => break,
            };
            let avoid = match &i.faults {
                Some(f) if matches!(target, Target::AnyQueue) => f.unavailable(Instant::now()),
                _ => Unavailable::default(),
            };
            let result = match pick(&route, target, &i.chooser, &failed, &avoid) {
                Ok((queue, addr)) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let r = self.send_once(batch, &queue, &addr, remaining).await;
                    if r.is_err() {
                        failed.push(queue.broker_name);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(results) => return Ok(results),
                Err(e) if e.is_retryable() && attempt < i.retries => {
                    warn!(topic = %batch.topic, attempt, error = %e, "send failed; retrying");
                    last_err = Some(e);
                }
                Err(e) => {
                    if e.is_retryable() {
                        self.refresh_in_background(&batch.topic);
                    }
                    return Err(e);
                }
            }
        }
        self.refresh_in_background(&batch.topic);
        Err(last_err.unwrap_or_else(timed_out))
    }

    /// Re-reads a topic's route after a send that failed for good, so the
    /// next send finds the cluster as it is now.
    fn refresh_in_background(&self, topic: &TopicName) {
        let client = self.inner.client.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            if let Err(e) = client.send_route(&topic, true).await {
                debug!(%topic, error = %e, "route refresh after a failed send failed");
            }
        });
    }

    /// Reports an attempt's latency or error to the fault strategy.
    fn record(&self, broker: &BrokerName, started: Instant, outcome: Result<(), &ClientError>) {
        let Some(faults) = &self.inner.faults else {
            return;
        };
        let now = Instant::now();
        let elapsed = now - started;
        match outcome {
            Ok(()) => faults.record_latency(broker, elapsed, now),
            Err(ClientError::Timeout { .. }) => faults.record_latency(broker, elapsed, now),
            Err(e) if e.is_broker_fault() => {
                debug!(broker = %broker, error = %e, "avoiding the broker for a while");
                faults.record_error(broker, elapsed, now);
            }
            Err(_) => {}
        }
    }

    async fn send_once(
        &self,
        batch: &EncodedBatch,
        queue: &MessageQueue,
        addr: &str,
        timeout: Duration,
    ) -> Result<Vec<SendResult>> {
        let req = SendMessageRequest {
            producer_group: self.inner.group.clone(),
            topic: batch.topic.clone(),
            queue_id: queue.queue_id,
            count: batch.count(),
        };
        let started = Instant::now();
        let reply = self
            .inner
            .client
            .call(addr, &req, batch.body.clone(), timeout)
            .await;
        let results = reply.and_then(|reply| {
            result::results(reply.code, &reply.header, batch, &queue.broker_name, addr)
        });
        self.record(&queue.broker_name, started, results.as_ref().map(|_| ()));
        results
    }
}

/// The queue and broker address of the next attempt.
fn pick(
    route: &TopicRoute,
    target: Target<'_>,
    chooser: &QueueChooser,
    failed: &[BrokerName],
    avoid: &Unavailable,
) -> Result<(MessageQueue, String)> {
    let queue = match target {
        Target::Queue(q) => q.clone(),
        Target::AnyQueue => chooser
            .choose(route.write_queues(), failed, avoid)
            .cloned()
            .ok_or_else(|| ClientError::NoWritableQueue(route.topic().to_string()))?,
    };
    let addr = route
        .master_addr(&queue.broker_name)
        .ok_or_else(|| ClientError::BrokerUnavailable(queue.broker_name.to_string()))?;
    Ok((queue, addr.to_string()))
}
