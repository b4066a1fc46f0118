//! [`PushConsumerBuilder`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{retry_topic, MessageModel};
use ferromq_protocol::{GroupName, StoredMessage, TopicName};

use super::allocate::AllocateStrategy;
use super::consumer::PushConsumer;
use super::listener::{ConsumeResult, Listener, MessageListener, OrderlyListener, OrderlyResult};
use super::settings::{ConsumeFromWhere, Settings};
use super::subscription::{Origin, Subscription};
use crate::error::{ClientError, Result};
use crate::MqClient;

/// Largest pull or consume batch.
const MAX_BATCH: usize = 1024;

/// Builds a [`PushConsumer`]. Needs a group, at least one subscription, a
/// listener, and either NameServers or a shared [`MqClient`].
#[derive(Default)]
pub struct PushConsumerBuilder {
    client: Option<MqClient>,
    namesrv: Option<String>,
    group: Option<String>,
    subscriptions: Vec<(String, String)>,
    listener: Option<Listener>,
    settings: Settings,
}

impl PushConsumerBuilder {
    /// NameServers (`"a:9876;b:9876"`); the consumer gets its own client.
    #[must_use]
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv = Some(addrs.into());
        self
    }

    /// Shares `client`'s connections and route cache. One push consumer
    /// per group per client.
    #[must_use]
    pub fn client(mut self, client: MqClient) -> Self {
        self.client = Some(client);
        self
    }

    /// Consumer group (required).
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Subscribes to `topic` with a tag expression: `*` for every message,
    /// or `TagA || TagB`. Call once per topic; a second call for the same
    /// topic replaces the expression.
    #[must_use]
    pub fn subscribe(mut self, topic: impl Into<String>, expression: impl Into<String>) -> Self {
        let topic = topic.into();
        self.subscriptions.retain(|(t, _)| *t != topic);
        self.subscriptions.push((topic, expression.into()));
        self
    }

    /// Clustering (default: each message to one member) or broadcasting
    /// (every member gets every message; offsets kept locally).
    #[must_use]
    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.settings.model = model;
        self
    }

    /// Where to start on queues the group never committed on (default
    /// [`ConsumeFromWhere::LastOffset`]).
    #[must_use]
    pub fn consume_from(mut self, from: ConsumeFromWhere) -> Self {
        self.settings.consume_from = from;
        self
    }

    /// How the group shares queues (default [`AllocateStrategy::Averagely`]).
    #[must_use]
    pub fn allocate(mut self, strategy: AllocateStrategy) -> Self {
        self.settings.allocate = strategy;
        self
    }

    /// Listener calls running at once, over all queues (default 20).
    #[must_use]
    pub fn consume_threads(mut self, n: usize) -> Self {
        self.settings.consume_threads = n;
        self
    }

    /// Most messages per listener call (default 1).
    #[must_use]
    pub fn consume_batch_size(mut self, n: usize) -> Self {
        self.settings.consume_batch_size = n;
        self
    }

    /// Most messages one pull asks for (default 32).
    #[must_use]
    pub fn pull_batch_size(mut self, n: u32) -> Self {
        self.settings.pull_batch_size = n;
        self
    }

    /// Pulling a queue pauses while this many of its messages are not done
    /// (default 1000).
    #[must_use]
    pub fn max_cached_messages_per_queue(mut self, n: usize) -> Self {
        self.settings.limits.messages = n;
        self
    }

    /// Pulling a queue pauses while its messages not done hold this many
    /// bytes (default 100 MiB).
    #[must_use]
    pub fn max_cached_bytes_per_queue(mut self, n: u64) -> Self {
        self.settings.limits.bytes = n;
        self
    }

    /// How long the broker holds a pull when a queue has nothing new
    /// (default 15 s).
    #[must_use]
    pub fn long_poll_hold(mut self, d: Duration) -> Self {
        self.settings.long_poll_hold = d;
        self
    }

    /// Rebalance at least this often (default 20 s); membership changes
    /// the brokers announce trigger one at once.
    #[must_use]
    pub fn rebalance_interval(mut self, d: Duration) -> Self {
        self.settings.rebalance_interval = d;
        self
    }

    /// Heartbeat to the brokers this often (default 30 s).
    #[must_use]
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.settings.heartbeat_interval = d;
        self
    }

    /// Commit offsets this often (default 5 s); also on shutdown and when
    /// a queue is given up.
    #[must_use]
    pub fn offset_persist_interval(mut self, d: Duration) -> Self {
        self.settings.offset_persist_interval = d;
        self
    }

    /// Redeliveries before a message goes to `%DLQ%<group>` (default: the
    /// group's setting on the broker, 16, see `mqadmin updateSubGroup`).
    #[must_use]
    pub fn max_reconsume_times(mut self, n: Option<u32>) -> Self {
        self.settings.max_reconsume_times = n;
        self
    }

    /// Orderly listeners: the pause after
    /// [`OrderlyResult::SuspendCurrentQueueAMoment`] (default 1 s).
    #[must_use]
    pub fn suspend_time(mut self, d: Duration) -> Self {
        self.settings.suspend_time = d;
        self
    }

    /// Broadcasting: the directory of the local offsets file (default
    /// `$HOME/.ferromq_offsets`). One consumer instance per directory.
    #[must_use]
    pub fn local_offset_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.local_offset_dir = dir.into();
        self
    }

    /// A concurrent listener closure: batches of any queues, several at once.
    #[must_use]
    pub fn listener_concurrently<F>(self, f: F) -> Self
    where
        F: Fn(&[StoredMessage]) -> ConsumeResult + Send + Sync + 'static,
    {
        self.concurrent_listener(f)
    }

    /// A concurrent listener type (which also sees the
    /// [`super::ConsumeContext`]).
    #[must_use]
    pub fn concurrent_listener(mut self, l: impl MessageListener) -> Self {
        self.listener = Some(Listener::Concurrent(Arc::new(l)));
        self
    }

    /// An orderly listener closure: each queue's messages one batch after
    /// another, in queue order.
    #[must_use]
    pub fn listener_orderly<F>(self, f: F) -> Self
    where
        F: Fn(&[StoredMessage]) -> OrderlyResult + Send + Sync + 'static,
    {
        self.orderly_listener(f)
    }

    /// An orderly listener type.
    #[must_use]
    pub fn orderly_listener(mut self, l: impl OrderlyListener) -> Self {
        self.listener = Some(Listener::Orderly(Arc::new(l)));
        self
    }

    /// Checks the settings and builds the consumer; nothing runs until
    /// [`PushConsumer::start`].
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for a missing group, subscription
    /// or listener, both or neither of a client and NameServers, sizes out
    /// of range, or an unreadable local offsets file;
    /// [`ClientError::Name`] for an invalid group or topic name.
    pub fn build(self) -> Result<PushConsumer> {
        let invalid = |m: &str| Err(ClientError::InvalidArgument(m.to_string()));
        let client = MqClient::from_builder(self.client, self.namesrv)?;
        let Some(group) = self.group else {
            return invalid("a consumer group is required");
        };
        let group = GroupName::new(group)?;
        let Some(listener) = self.listener else {
            return invalid("a listener is required (listener_concurrently or listener_orderly)");
        };
        if self.subscriptions.is_empty() {
            return invalid("subscribe to at least one topic");
        }
        let s = self.settings;
        if s.consume_threads == 0 {
            return invalid("consume threads must be at least 1");
        }
        if s.consume_batch_size == 0 || s.consume_batch_size > MAX_BATCH {
            return invalid("consume batch size must be within 1..=1024");
        }
        if s.pull_batch_size == 0 || s.pull_batch_size as usize > MAX_BATCH {
            return invalid("pull batch size must be within 1..=1024");
        }
        if s.limits.messages == 0 || s.limits.bytes == 0 {
            return invalid("the per-queue cache limits must be above 0");
        }
        let intervals = [
            s.rebalance_interval,
            s.heartbeat_interval,
            s.offset_persist_interval,
        ];
        if intervals.iter().any(Duration::is_zero) {
            return invalid("rebalance, heartbeat and offset persist intervals must be above 0");
        }
        let mut subs = Vec::new();
        for (topic, expr) in self.subscriptions {
            let topic = TopicName::new(topic)?;
            subs.push(Subscription::new(topic, &expr, Origin::Application));
        }
        if s.model == MessageModel::Clustering {
            let Some(retry) = retry_topic(&group) else {
                return invalid("the group name is too long for its retry topic");
            };
            subs.push(Subscription::new(retry, "*", Origin::Retry));
        }
        PushConsumer::new(client, group, s, subs, listener)
    }
}

impl std::fmt::Debug for PushConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumerBuilder")
            .field("group", &self.group)
            .field("subscriptions", &self.subscriptions)
            .field("listener", &self.listener)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> PushConsumerBuilder {
        PushConsumer::builder()
            .namesrv_addr("127.0.0.1:9876")
            .group("g")
            .subscribe("T", "*")
            .listener_concurrently(|_| ConsumeResult::Success)
    }

    #[test]
    fn validates_settings() {
        assert!(b().build().is_ok());
        let no_listener = PushConsumer::builder()
            .namesrv_addr("127.0.0.1:9876")
            .group("g")
            .subscribe("T", "*");
        assert!(matches!(
            no_listener.build(),
            Err(ClientError::InvalidArgument(_))
        ));
        let no_sub = PushConsumer::builder()
            .namesrv_addr("127.0.0.1:9876")
            .group("g")
            .listener_orderly(|_| OrderlyResult::Success);
        assert!(no_sub.build().is_err());
        assert!(b().consume_threads(0).build().is_err());
        assert!(b().consume_batch_size(0).build().is_err());
        assert!(b().pull_batch_size(5000).build().is_err());
        assert!(b().max_cached_messages_per_queue(0).build().is_err());
        assert!(b().rebalance_interval(Duration::ZERO).build().is_err());
        assert!(matches!(
            b().subscribe("a/b", "*").build(),
            Err(ClientError::Name(_))
        ));
        assert!(matches!(
            b().group("x y").build(),
            Err(ClientError::Name(_))
        ));
    }

    #[test]
    fn clustering_adds_the_retry_topic() {
        let c = b().subscribe("U", "TagA || TagB").build().unwrap();
        let topics: Vec<String> = c
            .subscriptions()
            .into_iter()
            .map(|(t, e)| format!("{t}={e}"))
            .collect();
        assert_eq!(topics, ["T=*", "U=TagA || TagB", "%RETRY%g=*"]);
        let dir = tempfile::tempdir().unwrap();
        let c = b()
            .message_model(MessageModel::Broadcasting)
            .local_offset_dir(dir.path())
            .build()
            .unwrap();
        assert_eq!(c.subscriptions().len(), 1);
    }
}
