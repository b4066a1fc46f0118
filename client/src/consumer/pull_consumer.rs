//! [`PullConsumer`]: subscriptions, the shared buffer, poll and commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::UpdateConsumerOffsetRequest;
use ferromq_protocol::{GroupName, QueueOffset, StoredMessage, TopicName};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::builder::PullConsumerBuilder;
use super::positions::{by_broker, Positions};
use super::{pull_task, watcher, ConsumeFrom, PolledMessage};
use crate::error::{ClientError, Result};
use crate::route::{MessageQueue, TopicRoute};
use crate::MqClient;

/// Settings fixed at build time.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    pub(super) consume_from: ConsumeFrom,
    pub(super) max_poll_records: usize,
    pub(super) long_poll_hold: Duration,
    pub(super) pull_batch_size: u32,
    pub(super) buffer_capacity: usize,
}

/// What one pull brought, on its way from the queue's pull task to
/// `poll`: messages of one queue, in queue order.
pub(super) type Batch = (Arc<MessageQueue>, Vec<StoredMessage>);

/// State the pull tasks and the route watcher share with the consumer.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) client: MqClient,
    pub(super) group: GroupName,
    pub(super) settings: Settings,
    pub(super) positions: Positions,
    /// Into the buffer, a batch at a time (one hand-off per pull, not
    /// per message).
    pub(super) tx: mpsc::UnboundedSender<Batch>,
    /// Free room in the buffer, in messages (`buffer_capacity` in all).
    /// It is the backpressure: a pull task takes room for a batch before
    /// it hands it over and pulls again; `poll` gives back room for what
    /// it takes out.
    pub(super) room: Semaphore,
    /// Stops every task of this consumer.
    pub(super) cancel: CancellationToken,
    /// One pull task per queue, so a held pull of one queue never delays
    /// another. Only locked to look up or insert.
    tasks: Mutex<HashMap<MessageQueue, JoinHandle<()>>>,
    /// Subscribed topics, re-read by the route watcher.
    pub(super) topics: Mutex<BTreeSet<TopicName>>,
}

impl Shared {
    /// Starts a pull task for every read queue of `route` that has none.
    pub(super) fn start_queues(self: &Arc<Self>, route: &TopicRoute) {
        if self.cancel.is_cancelled() {
            return;
        }
        let mut tasks = self.tasks.lock();
        for q in route.read_queues() {
            if !tasks.contains_key(q) {
                debug!(queue = %q, group = %self.group, "starting pull task");
                let task = pull_task::PullTask::new(self.clone(), q.clone());
                tasks.insert(q.clone(), tokio::spawn(task.run()));
            }
        }
    }
}

/// Reads every queue of its topics and hands messages to the application,
/// which commits what it has processed.
///
/// Each queue has a background task that keeps one long-polling pull in
/// flight and puts messages into a bounded buffer; [`Self::poll`] takes them
/// out. Messages of one queue come out in queue order. Every consumer reads
/// every queue of its topics: there is no rebalancing among the members of
/// a group yet, so run one pull consumer per group and topic.
#[derive(Clone, Debug)]
pub struct PullConsumer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// The buffer's receiving end. An async mutex: `poll` waits on it.
    buffer: tokio::sync::Mutex<Buffer>,
    watcher_started: AtomicBool,
}

/// The buffer's receiving end, and what is left of a batch that `poll`
/// took only part of.
#[derive(Debug)]
struct Buffer {
    rx: mpsc::UnboundedReceiver<Batch>,
    rest: Option<(Arc<MessageQueue>, std::vec::IntoIter<StoredMessage>)>,
}

impl Buffer {
    /// Moves up to `max` messages into `out`, in order, waiting only while
    /// none is buffered, and notes in `runs` each batch's queue and last
    /// offset taken. Cancel-safe: it waits only while `out` is still empty.
    async fn take(
        &mut self,
        max: usize,
        out: &mut Vec<PolledMessage>,
        runs: &mut Vec<(Arc<MessageQueue>, QueueOffset)>,
    ) {
        loop {
            let (queue, mut msgs) = match self.rest.take() {
                Some(rest) => rest,
                None if out.is_empty() => match self.rx.recv().await {
                    Some((q, m)) => (q, m.into_iter()),
                    None => return,
                },
                None => match self.rx.try_recv() {
                    Ok((q, m)) => (q, m.into_iter()),
                    Err(_) => return,
                },
            };
            let n = msgs.len().min(max - out.len());
            out.reserve(n);
            let mut last = None;
            for message in msgs.by_ref().take(n) {
                last = Some(message.queue_offset);
                out.push(PolledMessage {
                    queue: (*queue).clone(),
                    message,
                });
            }
            if let Some(last) = last {
                runs.push((queue.clone(), last));
            }
            if msgs.len() > 0 {
                self.rest = Some((queue, msgs));
            }
            if out.len() == max {
                return;
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl PullConsumer {
    /// A builder with the defaults.
    pub fn builder() -> PullConsumerBuilder {
        PullConsumerBuilder::default()
    }

    pub(super) fn new(client: MqClient, group: GroupName, settings: Settings) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Semaphore::new(settings.buffer_capacity);
        Self {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    client,
                    group,
                    settings,
                    positions: Positions::default(),
                    tx,
                    room,
                    cancel: CancellationToken::new(),
                    tasks: Mutex::default(),
                    topics: Mutex::default(),
                }),
                buffer: tokio::sync::Mutex::new(Buffer { rx, rest: None }),
                watcher_started: AtomicBool::new(false),
            }),
        }
    }

    /// The consumer group.
    pub fn group(&self) -> &GroupName {
        &self.inner.shared.group
    }

    /// The client this consumer uses.
    pub fn client(&self) -> &MqClient {
        &self.inner.shared.client
    }

    /// Starts reading every read queue of `topic`, on every broker.
    /// Queues added to the topic later are picked up at the next route
    /// refresh.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] for an unknown topic, NameServer errors,
    /// [`ClientError::Shutdown`] after [`Self::shutdown`].
    pub async fn subscribe(&self, topic: &TopicName) -> Result<()> {
        let shared = &self.inner.shared;
        if shared.cancel.is_cancelled() {
            return Err(ClientError::Shutdown);
        }
        let route = shared.client.topic_route(topic).await?;
        shared.topics.lock().insert(topic.clone());
        shared.start_queues(&route);
        if !self.inner.watcher_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(watcher::watch_routes(shared.clone()));
        }
        Ok(())
    }

    /// Buffered messages, at most the configured max poll records. Waits up
    /// to `timeout` for the first one; an empty `Vec` means none arrived.
    ///
    /// # Errors
    /// [`ClientError::Shutdown`] after [`Self::shutdown`].
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<StoredMessage>> {
        let max = self.inner.shared.settings.max_poll_records;
        let polled = self.poll_records(timeout, max).await?;
        Ok(polled.into_iter().map(|p| p.message).collect())
    }

    /// Like [`Self::poll`], with the queue of each message and an explicit
    /// limit (at least 1). Use it to take exactly as many messages as you
    /// will process, since [`Self::commit`] covers everything returned.
    ///
    /// # Errors
    /// [`ClientError::Shutdown`] after [`Self::shutdown`].
    pub async fn poll_records(&self, timeout: Duration, max: usize) -> Result<Vec<PolledMessage>> {
        let shared = &self.inner.shared;
        let max = max.max(1);
        let mut out = Vec::new();
        let mut runs = Vec::new();
        let receive = async {
            let mut buffer = self.inner.buffer.lock().await;
            buffer.take(max, &mut out, &mut runs).await;
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return Err(ClientError::Shutdown),
            _ = tokio::time::timeout(timeout, receive) => {}
        }
        shared.room.add_permits(out.len());
        if shared.cancel.is_cancelled() {
            return Err(ClientError::Shutdown);
        }
        // Positions move only for what the application is given: once per
        // batch, not per message.
        for (queue, last) in runs {
            shared.positions.returned(&queue, last);
        }
        Ok(out)
    }

    /// Commits, for each queue, the offset after the last message `poll`
    /// returned (or the start position chosen by [`ConsumeFrom`] if none was
    /// returned yet), one request per broker. Only changed queues are sent.
    ///
    /// # Errors
    /// The first failure; queues on other brokers are committed anyway, and
    /// the failed ones are retried by the next commit.
    pub async fn commit(&self) -> Result<()> {
        let shared = &self.inner.shared;
        let entries = shared.positions.uncommitted();
        if entries.is_empty() {
            return Ok(());
        }
        let commits = by_broker(&entries)
            .into_iter()
            .map(|(broker, offsets)| async move {
                let Some(topic) = offsets.first().map(|e| e.topic.clone()) else {
                    return Ok(());
                };
                // The master, or a slave while the master is unreachable.
                let addr = shared.client.read_addr(&topic, broker).await?;
                let req = UpdateConsumerOffsetRequest {
                    consumer_group: shared.group.clone(),
                    offsets: offsets.clone(),
                };
                shared.client.call_header(&addr, &req).await?;
                for e in offsets {
                    let q = MessageQueue::new(e.topic, broker.clone(), e.queue_id);
                    shared.positions.committed(&q, e.offset);
                }
                Ok(())
            });
        let mut first_err = None;
        for r in futures::future::join_all(commits).await {
            if let Err(e) = r {
                warn!(group = %shared.group, error = %e, "offset commit failed");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Stops every pull task and waits for them to end. Does **not**
    /// commit: call [`Self::commit`] first to keep what was polled, or the
    /// group reads those messages again next time. Buffered messages that
    /// were never polled are dropped (and read again next time).
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        shared.cancel.cancel();
        let tasks: Vec<_> = shared.tasks.lock().drain().map(|(_, t)| t).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
