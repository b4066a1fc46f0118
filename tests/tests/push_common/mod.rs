//! Helpers shared by the `push_*` tests: push consumers with short test
//! intervals, a recorder of deliveries, and bulk sends.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromq_client::{
    ConsumeFromWhere, Message, MessageQueue, Producer, PushConsumer, PushConsumerBuilder,
    StoredMessage, TopicName,
};
use futures::StreamExt;
use parking_lot::Mutex;

/// A push consumer builder with intervals short enough for tests, reading
/// a new group's queues from their first message. (With the default, the
/// last offset, a queue's start is its max offset when its first pull is
/// set up, which can be after a test's first sends.)
pub fn builder(namesrv: &str, group: &str) -> PushConsumerBuilder {
    PushConsumer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .consume_from(ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_millis(500))
        .heartbeat_interval(Duration::from_secs(1))
        .offset_persist_interval(Duration::from_millis(200))
        .long_poll_hold(Duration::from_secs(2))
        .consume_threads(4)
}

/// One delivery to a listener.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Which consumer (the test's own label).
    pub consumer: usize,
    pub at: Instant,
    pub message: StoredMessage,
}

/// Every delivery, in arrival order.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Vec<Delivery>>>,
}

impl Recorder {
    pub fn record(&self, consumer: usize, msgs: &[StoredMessage]) {
        let mut v = self.inner.lock();
        for m in msgs {
            v.push(Delivery {
                consumer,
                at: Instant::now(),
                message: m.clone(),
            });
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    pub fn all(&self) -> Vec<Delivery> {
        self.inner.lock().clone()
    }

    /// Deliveries per message key.
    pub fn by_key(&self) -> BTreeMap<String, Vec<Delivery>> {
        let mut out: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for d in self.all() {
            let key = d.message.message.keys.first().cloned().unwrap_or_default();
            out.entry(key).or_default().push(d);
        }
        out
    }

    /// Distinct keys delivered.
    pub fn keys(&self) -> BTreeSet<String> {
        self.by_key().into_keys().collect()
    }
}

/// Sends `n` messages keyed `{prefix}-{i}`, 64 in flight.
pub async fn send_n(p: &Producer, topic: &TopicName, prefix: &str, n: usize) {
    futures::stream::iter(0..n)
        .map(|i| {
            let m =
                Message::new(topic.clone(), format!("body-{i}")).with_key(format!("{prefix}-{i}"));
            p.send_async(m)
        })
        .buffer_unordered(64)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
}

/// Queues of `topic` among `queues`.
pub fn of_topic(queues: &[MessageQueue], topic: &TopicName) -> Vec<MessageQueue> {
    queues
        .iter()
        .filter(|q| q.topic == *topic)
        .cloned()
        .collect()
}
