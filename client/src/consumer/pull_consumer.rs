//! [`PullConsumer`]: subscriptions, the shared buffer, poll and commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::UpdateConsumerOffsetRequest;
use ferromq_protocol::{GroupName, StoredMessage, TopicName};
use parking_lot::Mutex;
use tokio::sync::mpsc;
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

/// A message on its way from a pull task to `poll`.
pub(super) type Item = (Arc<MessageQueue>, StoredMessage);

/// State the pull tasks and the route watcher share with the consumer.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) client: MqClient,
    pub(super) group: GroupName,
    pub(super) settings: Settings,
    pub(super) positions: Positions,
    /// Into the bounded buffer. Its capacity is the backpressure: a pull
    /// task waits for room before it pulls again.
    pub(super) tx: mpsc::Sender<Item>,
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
    rx: tokio::sync::Mutex<mpsc::Receiver<Item>>,
    watcher_started: AtomicBool,
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
        let (tx, rx) = mpsc::channel(settings.buffer_capacity);
        Self {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    client,
                    group,
                    settings,
                    positions: Positions::default(),
                    tx,
                    cancel: CancellationToken::new(),
                    tasks: Mutex::default(),
                    topics: Mutex::default(),
                }),
                rx: tokio::sync::Mutex::new(rx),
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
        let mut items = Vec::new();
        let receive = async {
            let mut rx = self.inner.rx.lock().await;
            rx.recv_many(&mut items, max.max(1)).await
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return Err(ClientError::Shutdown),
            _ = tokio::time::timeout(timeout, receive) => {}
        }
        if shared.cancel.is_cancelled() {
            return Err(ClientError::Shutdown);
        }
        Ok(items
            .into_iter()
            .map(|(queue, message)| {
                shared.positions.returned(&queue, message.queue_offset);
                PolledMessage {
                    queue: (*queue).clone(),
                    message,
                }
            })
            .collect())
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
                let route = shared.client.topic_route(&topic).await?;
                let addr = route
                    .master_addr(broker)
                    .ok_or_else(|| ClientError::BrokerUnavailable(broker.to_string()))?;
                let req = UpdateConsumerOffsetRequest {
                    consumer_group: shared.group.clone(),
                    offsets: offsets.clone(),
                };
                shared.client.call_header(addr, &req).await?;
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
