//! The [`Producer`]: encodes messages once, picks a write queue, sends, and
//! on a retryable failure refreshes the route and retries on another broker
//! within the send timeout. With the latency fault strategy on (the
//! default) it also remembers how each broker's recent sends went and
//! avoids slow or failing brokers for a while (see `fault.rs`).

mod batch;
mod builder;
mod chooser;
mod coalesce;
mod fault;
mod future;
mod result;
mod unique_id;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{SendMessageRequest, SendMessageResponse, PROPERTY_DELAY_LEVEL};
use ferromq_protocol::{BrokerName, GroupName, Message, TopicName};
use tokio::time::Instant;
use tracing::{debug, warn};

pub use builder::{
    ProducerBuilder, DEFAULT_AUTO_BATCH_IN_FLIGHT, DEFAULT_COMPRESS_THRESHOLD,
    DEFAULT_MAX_BATCH_BYTES,
};
pub use future::SendFuture;
pub use result::{SendResult, SendStatus};

use self::batch::{encode_batch, EncodedBatch, Limits};
use self::chooser::QueueChooser;
use self::coalesce::{Admitted, Group, Lanes};
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
    /// Automatic batching of concurrent sends; `None` when turned off.
    lanes: Option<Lanes>,
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
    /// With automatic batching on (the default), a send made while the
    /// topic already has [`ProducerBuilder::auto_batch_in_flight`] requests
    /// on the wire waits for one of them to finish and then goes out in one
    /// batch with the other sends waiting by then; each still gets its own
    /// result. Idle producers send at once.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for an invalid message, e.g. a body
    /// over the maximum message size after compression (nothing is sent,
    /// nothing retried), [`ClientError::NoRoute`] for an unknown topic,
    /// otherwise the error of the last attempt.
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        let i = &self.inner;
        // The broker takes delayed messages one by one.
        let delayed = msg
            .properties
            .get(PROPERTY_DELAY_LEVEL)
            .is_some_and(|v| v.trim() != "0");
        let one = self.encode(vec![msg])?;
        let deadline = Instant::now() + i.send_timeout;
        let lanes = match &i.lanes {
            Some(l) if !delayed => l,
            _ => return single(self.send_encoded(one, Target::AnyQueue, deadline).await),
        };
        let topic = one.topic.clone();
        match lanes.admit(one, deadline) {
            Admitted::Go(one) => {
                // Handed back when the send ends, or when this future is
                // dropped mid-send: either way the waiting sends go on.
                let _slot = Slot {
                    producer: self,
                    topic: &topic,
                };
                single(self.send_encoded(one, Target::AnyQueue, deadline).await)
            }
            Admitted::Wait(rx) => {
                coalesce::wait(rx, deadline, &topic, i.send_timeout.as_millis()).await
            }
        }
    }

    /// Sends groups of waiting messages until the topic's lane has none
    /// left, then hands the in-flight slot back.
    async fn send_groups(self, topic: TopicName, mut group: Group) {
        let Some(lanes) = &self.inner.lanes else {
            return;
        };
        loop {
            let outcome = self
                .send_encoded(group.batch, Target::AnyQueue, group.deadline)
                .await;
            tracing::trace!(messages = group.replies.len(), "coalesced send done");
            coalesce::answer(group.replies, outcome);
            // The senders just answered usually send again at once: let
            // them queue up first, so the next group takes them along
            // instead of leaving with whatever was there a moment earlier.
            tokio::task::yield_now().await;
            match lanes.release(&topic) {
                Some(next) => group = next,
                None => return,
            }
        }
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
        let deadline = Instant::now() + self.inner.send_timeout;
        self.send_encoded(batch, Target::AnyQueue, deadline).await
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
        let deadline = Instant::now() + self.inner.send_timeout;
        single(
            self.send_encoded(batch, Target::Queue(queue), deadline)
                .await,
        )
    }

    fn encode(&self, msgs: Vec<Message>) -> Result<EncodedBatch> {
        let i = &self.inner;
        encode_batch(msgs, &i.ids, i.born_host, i.limits)
    }

    /// Sends `batch`, retrying on another broker until `deadline`.
    async fn send_encoded(
        &self,
        batch: EncodedBatch,
        target: Target<'_>,
        deadline: Instant,
    ) -> Result<Vec<SendResult>> {
        let i = &self.inner;
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
            let e = match pick(&route, target, &i.chooser, &failed, &avoid) {
                Ok((queue, addr)) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match self.send_once(&batch, &queue, &addr, remaining).await {
                        Ok((status, resp)) => {
                            let name = &queue.broker_name;
                            return Ok(result::results(status, &resp, batch, name, &addr));
                        }
                        Err(e) => {
                            failed.push(queue.broker_name);
                            e
                        }
                    }
                }
                Err(e) => e,
            };
            if !e.is_retryable() {
                return Err(e);
            }
            if attempt == i.retries {
                self.refresh_in_background(&batch.topic);
                return Err(e);
            }
            warn!(topic = %batch.topic, attempt, error = %e, "send failed; retrying");
            last_err = Some(e);
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
    ) -> Result<(SendStatus, SendMessageResponse)> {
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
        let answer = reply.and_then(|reply| {
            result::status(reply.code, addr).map(|status| (status, reply.header))
        });
        self.record(&queue.broker_name, started, answer.as_ref().map(|_| ()));
        answer
    }
}

/// The one result of a send of one message.
fn single(results: Result<Vec<SendResult>>) -> Result<SendResult> {
    results?
        .pop()
        .ok_or_else(|| ClientError::Internal("a send of one message returned no result".into()))
}

/// A topic's in-flight slot held by a send; dropping it hands the slot to
/// the messages waiting in the lane (sent on a task of their own) or back
/// to the lane.
struct Slot<'a> {
    producer: &'a Producer,
    topic: &'a TopicName,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(lanes) = &self.producer.inner.lanes else {
            return;
        };
        let Some(group) = lanes.release(self.topic) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(self.producer.clone().send_groups(self.topic.clone(), group));
            }
            // No runtime left to send on: the waiting sends fail.
            Err(_) => coalesce::answer(group.replies, Err(ClientError::Shutdown)),
        }
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
