//! Scheduled delivery: moves due messages of the schedule topic to their
//! real topics. The server's delivery loop calls [`Broker::deliver_due`]
//! and sleeps for as long as it answers (or until a message is scheduled).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferromq_protocol::header::RETRY_PREFIX;
use ferromq_protocol::record::{self, StoredMessage};
use ferromq_protocol::{QueueId, QueueOffset, RecordError};
use ferromq_store::{AppendError, ReadStatus};
use futures::future::join_all;
use tracing::{debug, warn};

use super::{Broker, ServiceError};
use crate::reappend::{append_message, born_of, written};
use crate::schedule::{out_of_schedule, queue_of};

/// Longest wait between passes, also the slack for a wall clock that
/// jumps.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Pause after a failed delivery (store busy, disk full) before retrying.
const RETRY_BACKOFF_MS: u64 = 1000;
/// Messages read (and delivered concurrently, sharing group commits) at a
/// time.
const BATCH: u32 = 64;
const BATCH_BYTES: u32 = 4 << 20;
/// Messages one level may deliver per pass before the other levels get
/// their turn.
const MAX_PER_PASS: usize = 1024;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Broker {
    /// Delivers what is due on every level; returns how long to wait
    /// before the next pass (zero: more is due now, at most a second).
    /// Appends started here finish before it returns, so a delivered
    /// message's offset is recorded before the store stops.
    pub(crate) async fn deliver_due(&self) -> Duration {
        let next_due = self.deliver_pass().await;
        next_due
            .map_or(MAX_IDLE, |at| {
                Duration::from_millis(at.saturating_sub(now_ms()))
            })
            .min(MAX_IDLE)
    }

    /// Waits until a message is scheduled, so a short delay is not missed
    /// while the delivery loop sleeps towards a later one.
    pub(crate) async fn scheduled(&self) {
        self.scheduler.scheduled().await;
    }

    /// One pass over every level; returns when the earliest message left is
    /// due (ms since the epoch), `None` if nothing is waiting.
    async fn deliver_pass(&self) -> Option<u64> {
        // Only a master (not fenced) delivers; a slave copies its master's
        // deliveries with the log, and its progress with the metadata.
        if self.store.role() != ferromq_store::StoreRole::Master {
            return None;
        }
        let s = &self.scheduler;
        // Levels of the table, plus queues left over from a longer table used
        // before a restart (delivered with the table's last delay).
        let mut levels: BTreeSet<u32> = s.levels().levels().collect();
        levels.extend(
            self.store
                .queue_ids(s.topic())
                .into_iter()
                .map(|q| q.get().saturating_add(1)),
        );
        let mut next: Option<u64> = None;
        for level in levels {
            if let Some(at) = self.deliver_level(level).await {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        next
    }

    /// Delivers the due messages of one level; returns when its next message
    /// is due.
    async fn deliver_level(&self, level: u32) -> Option<u64> {
        let s = &self.scheduler;
        let delay = s
            .levels()
            .delay(s.levels().clamp(level))
            .map_or(0, |d| d.as_millis() as u64);
        let queue = queue_of(level);
        let mut delivered = 0;
        while delivered < MAX_PER_PASS {
            if self.is_shutting_down() {
                return None;
            }
            let offset = s.offsets().get(level);
            let read = match self.store.read(
                s.topic(),
                queue,
                QueueOffset::new(offset),
                BATCH,
                BATCH_BYTES,
            ) {
                Ok(r) => r,
                Err(e) => {
                    warn!(level, offset, error = %e, "cannot read scheduled messages; retrying");
                    return Some(now_ms() + RETRY_BACKOFF_MS);
                }
            };
            match read.status {
                ReadStatus::Found => {}
                ReadStatus::NoNewMessage | ReadStatus::NoQueue => return None,
                ReadStatus::OffsetTooSmall | ReadStatus::OffsetOverflow => {
                    warn!(level, offset, next = %read.next_offset, status = ?read.status,
                          "scheduled-message offset outside the queue; moving on");
                    s.offsets().set(level, read.next_offset.get());
                    // Overflow lands on max (nothing to read), too-small on min.
                    continue;
                }
            }
            let now = now_ms();
            let mut due = Vec::new();
            let mut later = None;
            for rec in &read.records {
                match record::decode(&rec) {
                    Ok(m) if m.store_timestamp.saturating_add(delay) > now => {
                        later = Some(m.store_timestamp.saturating_add(delay));
                        break;
                    }
                    Ok(m) => due.push(Ok(m)),
                    Err(e) => due.push(Err(e)),
                }
            }
            if due.is_empty() {
                return later;
            }
            let n = due.len();
            let results = join_all(due.into_iter().map(|m| self.deliver_one(level, m))).await;
            let ok = results.iter().take_while(|r| r.is_ok()).count();
            s.offsets().set(level, offset + ok as u64);
            delivered += ok;
            if ok < n {
                if let Some(Err(e)) = results.into_iter().nth(ok) {
                    warn!(level, offset = offset + ok as u64, error = %e, "scheduled delivery failed; retrying");
                }
                return Some(now_ms() + RETRY_BACKOFF_MS);
            }
            if later.is_some() {
                return later;
            }
        }
        // More is due: come back at once, after the other levels.
        Some(0)
    }

    /// Appends one due message to its real topic. A message that can never be
    /// delivered (undecodable, no destination, topic gone) is dropped with a
    /// warning so it does not block its level forever.
    async fn deliver_one(
        &self,
        level: u32,
        m: Result<StoredMessage, RecordError>,
    ) -> Result<(), ServiceError> {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                warn!(level, error = %e, "dropping an undecodable scheduled message");
                return Ok(());
            }
        };
        let born = born_of(&m, m.reconsume_times);
        let id = m.msg_id();
        let (msg, queue) = match out_of_schedule(m.message) {
            Ok(x) => x,
            Err(e) => {
                warn!(level, msg_id = %id, error = %e, "dropping a scheduled message without a destination");
                return Ok(());
            }
        };
        let config = match self.topics.get(&msg.topic) {
            Some(c) => c,
            // Retry topics come back if deleted: the group still wants them.
            None if msg.topic.as_str().starts_with(RETRY_PREFIX) => {
                self.internal_topic(&msg.topic)?
            }
            None => {
                warn!(level, msg_id = %id, topic = %msg.topic, "dropping a scheduled message: its topic no longer exists");
                return Ok(());
            }
        };
        // The topic may have fewer queues than when the message was scheduled.
        let queue = QueueId::new(queue.get() % config.write_queues.max(1));
        match written(append_message(&self.store, &msg, born, queue).await) {
            Ok(r) => {
                debug!(level, topic = %msg.topic, %queue, queue_offset = %r.queue_offset, "scheduled message delivered");
                Ok(())
            }
            Err(AppendError::Invalid(e)) => {
                warn!(level, msg_id = %id, error = %e, "dropping a scheduled message the store refuses");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
