//! State every task of a push consumer shares: settings, subscriptions,
//! the listener, the owned queues, and the channels that wake the
//! rebalancer. Also the consumer's face towards its client
//! ([`GroupMember`]): heartbeat data and broker notifications.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ferromq_protocol::header::{ConsumeType, ConsumerData, ResetOffsetNotify};
use ferromq_protocol::{BrokerName, GroupName, QueueOffset, TopicName};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::listener::Listener;
use super::local_offsets::LocalOffsets;
use super::process_queue::ProcessQueue;
use super::settings::Settings;
use super::subscription::Subscription;
use super::{concurrent, orderly, pull_loop};
use crate::error::{ClientError, Result};
use crate::mq_client::GroupMember;
use crate::route::MessageQueue;
use crate::MqClient;

/// Offset resets waiting for the rebalancer; resets are rare, so a small
/// bound is plenty (one that does not fit is logged and dropped).
pub(super) const CONTROL_CAPACITY: usize = 64;

/// Work for the rebalancer task besides rebalancing.
#[derive(Debug)]
pub(super) enum Control {
    /// A broker moved the group's offsets (`ResetOffsetNotify`).
    Reset {
        broker_addr: String,
        notify: ResetOffsetNotify,
    },
}

pub(super) struct Shared {
    pub(super) client: MqClient,
    pub(super) group: GroupName,
    pub(super) settings: Settings,
    /// Application subscriptions, then the retry topic (clustering).
    pub(super) subs: Vec<Arc<Subscription>>,
    pub(super) listener: Listener,
    /// Queues this consumer owns. Only locked to look up, insert or
    /// remove; never across an await.
    pub(super) queues: Mutex<HashMap<MessageQueue, Arc<ProcessQueue>>>,
    /// Broadcasting only: the offsets file.
    pub(super) local: Option<LocalOffsets>,
    /// Listener calls running at once, over all queues (consume threads).
    pub(super) permits: Arc<Semaphore>,
    /// Cancelled by shutdown or when the consumer is dropped: every task
    /// and queue of the consumer ends.
    pub(super) cancel: CancellationToken,
    /// Wakes the rebalancer at once (membership changed, lock lost).
    pub(super) rebalance_now: Notify,
    /// Into the rebalancer; filled from connection reader tasks, which
    /// must not block.
    pub(super) control: mpsc::Sender<Control>,
    /// Brokers that took our last heartbeat; a rebalance that finds a
    /// broker outside this set heartbeats first.
    pub(super) heartbeated: Mutex<BTreeSet<String>>,
}

impl Shared {
    /// Whether queues must be locked on the broker before consuming.
    pub(super) fn needs_lock(&self) -> bool {
        self.listener.is_orderly()
            && self.settings.model == ferromq_protocol::header::MessageModel::Clustering
    }

    /// Where to read `broker`'s queues and commit offsets: its master, or
    /// a slave while the master is unreachable ([`MqClient::read_addr`]).
    ///
    /// # Errors
    /// Route lookup errors; [`ClientError::BrokerUnavailable`] when the
    /// broker has no live address.
    pub(super) async fn read_addr(&self, topic: &TopicName, broker: &BrokerName) -> Result<String> {
        self.client.read_addr(topic, broker).await
    }

    /// The master address of `broker` (from `topic`'s route), for what
    /// only a master does: queue locks and sending messages back.
    ///
    /// # Errors
    /// Route lookup errors; [`ClientError::BrokerUnavailable`] when the
    /// broker has no live master.
    pub(super) async fn master_addr(
        &self,
        topic: &TopicName,
        broker: &BrokerName,
    ) -> Result<String> {
        let route = self.client.topic_route(topic).await?;
        route
            .master_addr(broker)
            .map(str::to_string)
            .ok_or_else(|| ClientError::BrokerUnavailable(broker.to_string()))
    }

    pub(super) fn owned(&self) -> Vec<Arc<ProcessQueue>> {
        self.queues.lock().values().cloned().collect()
    }

    /// Takes `queue` on: a process queue and its tasks (a pull loop, and
    /// for orderly listeners a worker).
    pub(super) fn take_queue(
        self: &Arc<Self>,
        queue: MessageQueue,
        sub: Arc<Subscription>,
        start_at: Option<QueueOffset>,
    ) -> Arc<ProcessQueue> {
        let pq = Arc::new(ProcessQueue::new(
            queue.clone(),
            sub,
            &self.cancel,
            start_at,
        ));
        self.queues.lock().insert(queue, pq.clone());
        tokio::spawn(pull_loop::run(self.clone(), pq.clone()));
        if let Listener::Orderly(l) = &self.listener {
            tokio::spawn(orderly::worker(self.clone(), pq.clone(), l.clone()));
        }
        pq
    }

    /// Hands freshly pulled messages to the consumers.
    pub(super) fn dispatch(
        self: &Arc<Self>,
        pq: &Arc<ProcessQueue>,
        msgs: Vec<ferromq_protocol::StoredMessage>,
    ) {
        match &self.listener {
            Listener::Concurrent(l) => concurrent::dispatch(self, pq, msgs, l),
            // The orderly worker takes them from the window itself.
            Listener::Orderly(_) => {}
        }
    }
}

impl GroupMember for Shared {
    fn consumer_data(&self) -> ConsumerData {
        ConsumerData {
            group: self.group.clone(),
            consume_type: ConsumeType::Push,
            model: self.settings.model,
            subscriptions: self.subs.iter().map(|s| s.wire()).collect(),
        }
    }

    fn ids_changed(&self) {
        self.rebalance_now.notify_one();
    }

    fn reset_offset(&self, broker_addr: &str, notify: ResetOffsetNotify) {
        let c = Control::Reset {
            broker_addr: broker_addr.to_string(),
            notify,
        };
        if let Err(e) = self.control.try_send(c) {
            warn!(group = %self.group, error = %e, "offset reset dropped: too many pending");
        }
    }
}
