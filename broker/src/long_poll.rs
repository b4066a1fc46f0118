//! Held pulls. A pull that finds nothing waits here until the dispatcher
//! reports new entries for its queue, its hold time ends, or the broker shuts
//! down. One `Notify` per queue; waiters register *before* re-reading the
//! queue so an arrival between the read and the wait is never missed.

use std::collections::HashMap;
use std::sync::Arc;

use ferromq_protocol::{QueueId, QueueOffset, TopicName};
use parking_lot::Mutex;
use tokio::sync::Notify;

use ferromq_store::ArrivalListener;

/// Wakes held pulls when their queue grows.
#[derive(Default)]
pub struct LongPollRegistry {
    /// (topic, queue) → the queue's waiters. Entries are created on demand
    /// and live as long as the topic (a few bytes per queue).
    queues: Mutex<HashMap<(TopicName, QueueId), Arc<Notify>>>,
    /// Woken on every arrival, whatever the queue: fetches of slaves held
    /// at the master's end of the log.
    any: Notify,
}

impl LongPollRegistry {
    /// The notifier of a queue.
    pub fn notifier(&self, topic: &TopicName, queue_id: QueueId) -> Arc<Notify> {
        self.queues
            .lock()
            .entry((topic.clone(), queue_id))
            .or_default()
            .clone()
    }

    /// Woken whenever new records become visible.
    pub fn arrivals(&self) -> &Notify {
        &self.any
    }

    /// Wakes everything held on a topic and forgets it (topic deleted).
    pub fn remove_topic(&self, topic: &TopicName) {
        self.queues.lock().retain(|(t, _), n| {
            if t == topic {
                n.notify_waiters();
            }
            t != topic
        });
    }
}

impl ArrivalListener for LongPollRegistry {
    fn on_arrival(&self, topic: &TopicName, queue_id: QueueId, _max_offset: QueueOffset) {
        let n = self.queues.lock().get(&(topic.clone(), queue_id)).cloned();
        if let Some(n) = n {
            n.notify_waiters();
        }
        self.any.notify_waiters();
    }
}
