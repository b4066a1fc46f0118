//! [`PushConsumer`]: start, shutdown, and what it owns right now.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ferromq_protocol::header::MessageModel;
use ferromq_protocol::GroupName;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::builder::PushConsumerBuilder;
use super::listener::Listener;
use super::local_offsets::LocalOffsets;
use super::settings::Settings;
use super::shared::{Control, Shared, CONTROL_CAPACITY};
use super::subscription::{Origin, Subscription};
use super::{offsets, orderly, rebalance};
use crate::error::{ClientError, Result};
use crate::mq_client::GroupMember;
use crate::route::MessageQueue;
use crate::MqClient;

/// Lifecycle of a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Created,
    Running,
    Stopped,
}

/// A consumer that pulls in the background and calls a listener: the
/// consumer most applications use.
///
/// Members of one group share the queues of its topics (clustering) or each
/// read all of them (broadcasting). Each owned queue has a pull loop that
/// keeps one long-polling pull in flight and fills the queue's window;
/// listener calls take messages out. Offsets are committed every persist
/// interval, on rebalance and on [`Self::shutdown`]; a queue's committed
/// offset is its lowest unfinished message, so delivery is at least once.
/// Messages the listener fails go back to the broker and return through
/// the group's retry topic, or end in its dead-letter topic.
///
/// Dropping the consumer without [`Self::shutdown`] stops it like a crash:
/// nothing is committed or released, and the brokers drop it from the
/// group when its connections close.
#[derive(Clone, Debug)]
pub struct PushConsumer {
    inner: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    /// An async mutex: start and shutdown do not interleave.
    state: tokio::sync::Mutex<State>,
    /// The rebalancer's end of the control channel, until it is started.
    control: Mutex<Option<mpsc::Receiver<Control>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer")
            .field("group", &self.shared.group)
            .field("client_id", &self.shared.client.client_id())
            .finish_non_exhaustive()
    }
}

impl PushConsumer {
    /// A builder with the defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    pub(super) fn new(
        client: MqClient,
        group: GroupName,
        settings: Settings,
        subs: Vec<Subscription>,
        listener: Listener,
    ) -> Result<Self> {
        let local = match settings.model {
            MessageModel::Broadcasting => {
                Some(LocalOffsets::load(&settings.local_offset_dir, &group)?)
            }
            MessageModel::Clustering => None,
        };
        let (tx, rx) = mpsc::channel(CONTROL_CAPACITY);
        let shared = Arc::new(Shared {
            client,
            group,
            permits: Arc::new(Semaphore::new(settings.consume_threads)),
            settings,
            subs: subs.into_iter().map(Arc::new).collect(),
            listener,
            queues: Mutex::new(HashMap::new()),
            local,
            cancel: CancellationToken::new(),
            rebalance_now: Notify::new(),
            control: tx,
            heartbeated: Mutex::new(BTreeSet::new()),
        });
        Ok(Self {
            inner: Arc::new(Handle {
                shared,
                state: tokio::sync::Mutex::new(State::Created),
                control: Mutex::new(Some(rx)),
            }),
        })
    }

    /// The consumer group.
    pub fn group(&self) -> &GroupName {
        &self.inner.shared.group
    }

    /// The client this consumer uses.
    pub fn client(&self) -> &MqClient {
        &self.inner.shared.client
    }

    /// This member's id in the group.
    pub fn client_id(&self) -> &str {
        self.inner.shared.client.client_id()
    }

    /// Subscribed topics and their tag expressions, the retry topic
    /// included (clustering).
    pub fn subscriptions(&self) -> Vec<(String, String)> {
        self.inner
            .shared
            .subs
            .iter()
            .map(|s| (s.topic.to_string(), s.expression.clone()))
            .collect()
    }

    /// The queues this member owns now, sorted.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        let mut qs: Vec<MessageQueue> = self.inner.shared.queues.lock().keys().cloned().collect();
        qs.sort();
        qs
    }

    /// Joins the group and starts consuming: heartbeats to the brokers of
    /// the subscribed topics, a first rebalance, then the background tasks
    /// (rebalancer, heartbeats, offset commits, and for orderly listeners
    /// lock renewal). Calling it again while running does nothing.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] for a subscribed topic no NameServer knows;
    /// [`ClientError::InvalidArgument`] if this client already has a
    /// consumer of the group; [`ClientError::Shutdown`] after
    /// [`Self::shutdown`] or once the client is shut down.
    pub async fn start(&self) -> Result<()> {
        let shared = &self.inner.shared;
        let mut state = self.inner.state.lock().await;
        match *state {
            State::Running => return Ok(()),
            State::Stopped => return Err(ClientError::Shutdown),
            State::Created => {}
        }
        if shared.client.is_shut_down() || shared.cancel.is_cancelled() {
            return Err(ClientError::Shutdown);
        }
        for sub in shared
            .subs
            .iter()
            .filter(|s| s.origin == Origin::Application)
        {
            shared.client.topic_route(&sub.topic).await?;
        }
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let member: Weak<dyn GroupMember> = weak;
        shared.client.register_member(&shared.group, member)?;
        let Some(control) = self.inner.control.lock().take() else {
            return Err(ClientError::Internal("consumer started twice".into()));
        };
        let targets = shared.client.heartbeat_targets().await;
        rebalance::heartbeat(shared, &targets).await;
        rebalance::rebalance(shared).await;
        tokio::spawn(rebalance::run(shared.clone(), control));
        tokio::spawn(heartbeat_loop(shared.clone()));
        tokio::spawn(offsets::persist_loop(shared.clone()));
        if shared.needs_lock() {
            tokio::spawn(orderly::renew_loop(shared.clone()));
        }
        *state = State::Running;
        info!(group = %shared.group, client_id = %shared.client.client_id(),
            queues = shared.queues.lock().len(), "push consumer started");
        Ok(())
    }

    /// Leaves the group cleanly: stops pulling, lets running listener calls
    /// finish (up to 10 s), commits every queue's offset, releases orderly
    /// locks, and unregisters from the brokers so the other members take
    /// the queues over at once.
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        let mut state = self.inner.state.lock().await;
        let was = std::mem::replace(&mut *state, State::Stopped);
        shared.cancel.cancel();
        if was != State::Running {
            return;
        }
        let owned: Vec<_> = shared.queues.lock().drain().map(|(_, pq)| pq).collect();
        rebalance::release_all(shared, owned, rebalance::DRAIN_TIMEOUT).await;
        let brokers = shared.heartbeated.lock().clone();
        shared.client.unregister_member(&shared.group);
        if !brokers.is_empty() {
            shared
                .client
                .unregister_consumer(&shared.group, &brokers)
                .await;
        }
        if let Some(local) = &shared.local {
            if let Err(e) = local.persist().await {
                warn!(path = %local.path().display(), error = %e, "cannot write local offsets");
            }
        }
        info!(group = %shared.group, "push consumer shut down");
    }
}

async fn heartbeat_loop(shared: Arc<Shared>) {
    let interval: Duration = shared.settings.heartbeat_interval;
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let targets = shared.client.heartbeat_targets().await;
        rebalance::heartbeat(&shared, &targets).await;
    }
}
