//! Scheduled delivery: delayed producer messages (`DELAY` property) and
//! consumer retries wait in `SCHEDULE_TOPIC_XXXX`, queue `level - 1`, until
//! their store time plus the level's delay; then the broker's delivery
//! loop (`service/delivery.rs`) appends a copy to their real topic and
//! queue.
//!
//! ```text
//! send with DELAY / send-back ──▶ SCHEDULE_TOPIC_XXXX queue (level-1) ──wake──▶
//! deliver task: per level, from its saved offset, while due:
//!               copy to REAL_TOPIC/REAL_QID ──▶ advance the level's offset
//!               (config/delayOffsets.json, every few seconds and at shutdown)
//! ```
//!
//! Each level's queue holds messages of one delay in store order, so the
//! first message not yet due bounds the rest: the task sleeps until the
//! earliest such time (at most a second), or until a new message is
//! scheduled. The schedule topic is internal: not in `topics.json`, not
//! registered with NameServers, not pullable.

mod levels;
mod message;
mod offsets;

use std::path::PathBuf;

use ferromq_protocol::header::SCHEDULE_TOPIC;
use ferromq_protocol::record::{BornInfo, Message};
use ferromq_protocol::{QueueId, TopicName};
use tokio::sync::Notify;

pub use levels::DelayLevels;
pub(crate) use message::{out_of_schedule, requested_level};
pub use offsets::DelayOffsets;

use crate::reappend::append_message;
use ferromq_store::{AppendError, AppendResult, MessageStore};

/// The delay table, the schedule topic and the delivery progress.
pub struct Scheduler {
    levels: DelayLevels,
    topic: TopicName,
    offsets: DelayOffsets,
    /// Wakes the delivery task when a message is scheduled, so a short
    /// delay is not missed while it sleeps towards a later one.
    wake: Notify,
}

impl Scheduler {
    /// Loads the delivery progress under `config_dir`.
    ///
    /// # Errors
    /// An unreadable or corrupt offsets file.
    pub fn load(levels: DelayLevels, config_dir: PathBuf) -> std::io::Result<Self> {
        let topic = TopicName::new(SCHEDULE_TOPIC).map_err(std::io::Error::other)?;
        Ok(Self {
            levels,
            topic,
            offsets: DelayOffsets::load(config_dir)?,
            wake: Notify::new(),
        })
    }

    /// The delay table.
    pub fn levels(&self) -> &DelayLevels {
        &self.levels
    }

    /// Delivery progress per level.
    pub fn offsets(&self) -> &DelayOffsets {
        &self.offsets
    }

    /// The schedule topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// Waits until a message is scheduled.
    pub async fn scheduled(&self) {
        self.wake.notified().await;
    }

    /// Stores `msg` (addressed to its real topic, for `real_queue`) in the
    /// schedule topic at `level`, clamped to the table, and wakes the
    /// delivery task.
    ///
    /// # Errors
    /// The store's append errors, `FlushTimeout` included (the message is
    /// stored then, and will be delivered).
    pub(crate) async fn schedule(
        &self,
        store: &MessageStore,
        msg: Message,
        born: BornInfo,
        real_queue: QueueId,
        level: u32,
    ) -> Result<AppendResult, AppendError> {
        let level = self.levels.clamp(level);
        let scheduled = message::into_schedule(msg, &self.topic, real_queue, level);
        let r = append_message(store, &scheduled, born, queue_of(level)).await;
        if matches!(r, Ok(_) | Err(AppendError::FlushTimeout(_))) {
            // Written either way: the delivery loop has a new record.
            self.wake.notify_one();
        }
        r
    }
}

/// The schedule-topic queue of a level.
pub(crate) fn queue_of(level: u32) -> QueueId {
    QueueId::new(level.saturating_sub(1))
}
