//! Messages in and out: sends (with their permission and queue checks and
//! delayed messages), pulls held while the queue is empty, lookups by key,
//! id and time, and queue offsets.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::header::{
    PullMessageRequest, QueryBy, MAX_QUERY_MESSAGES, PERM_READ, PERM_WRITE,
};
use ferromq_protocol::record::{self, BornInfo, Message};
use ferromq_protocol::{CommitLogOffset, QueueId, QueueOffset, TopicName};
use ferromq_remoting::PeerHandle;
use ferromq_store::{AppendError, AppendResult, ReadStatus};
use tokio::time::Instant;

use super::{Broker, ServiceError};
use crate::filter::{self, Pulled, TagFilter};
use crate::reappend::born_of;
use crate::schedule;

/// Largest batch one pull may ask for.
const MAX_PULL_MESSAGES: u32 = 1024;

/// Where a send's records landed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sent {
    pub(crate) status: SendStatus,
    /// Offsets of the first record.
    pub(crate) append: AppendResult,
    /// This broker's store host: with the commit-log offset, the message
    /// id.
    pub(crate) store_host: SocketAddr,
}

/// How durable a stored send is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendStatus {
    /// Stored as the flush mode promises.
    Stored,
    /// Written, but its fsync did not finish within the sync-flush
    /// timeout; it becomes durable with the next one.
    FlushTimedOut,
    /// Stored and flushed on the master, but sync replication did not
    /// reach enough in-sync replicas in time.
    ReplicasTimedOut,
}

impl Broker {
    /// Appends a batch of producer-encoded records to one queue. A single
    /// message with a `DELAY` level goes to the schedule topic instead, and
    /// reaches its queue once the level's delay has passed (the answer then
    /// names the schedule-topic record, as RocketMQ's does).
    ///
    /// `records` is stamped in place by the writer: taken over without a
    /// copy when nothing else holds its buffer.
    ///
    /// # Errors
    /// `NoPermission` (broker wiped or topic not writable),
    /// `TopicNotExist`, `InvalidArgument` (queue out of range),
    /// `MessageIllegal`, and the store's refusals.
    pub(crate) async fn send(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
        count: u32,
        records: Bytes,
    ) -> Result<Sent, ServiceError> {
        if !self.state.writable() {
            return Err(ServiceError::NoPermission(format!(
                "broker {} is not writable (write permission wiped); send elsewhere",
                self.config.broker_name
            )));
        }
        // A slave refuses before anything else (it may not know the topic
        // yet); a sync master with too few in-sync replicas too.
        self.check_replicas()?;
        let config = self.topic_for_send(topic)?;
        if config.perm & PERM_WRITE == 0 {
            return Err(ServiceError::NoPermission(format!(
                "topic {topic} is not writable on broker {}",
                self.config.broker_name
            )));
        }
        if queue_id.get() >= config.write_queues {
            return Err(ServiceError::InvalidArgument(format!(
                "queue {queue_id} is out of range: topic {topic} has {} write queues on broker {}",
                config.write_queues, self.config.broker_name
            )));
        }
        if count == 0 || records.is_empty() {
            return Err(ServiceError::MessageIllegal(
                "empty send: no records in the body".into(),
            ));
        }
        let len = records.len() as u64;
        let sent = |status, append| Sent {
            status,
            append,
            store_host: self.endpoint.store_host,
        };
        #[cfg(feature = "discard-sends")]
        {
            return Ok(sent(
                SendStatus::Stored,
                AppendResult {
                    queue_offset: QueueOffset::new(0),
                    commit_log_offset: CommitLogOffset::new(0),
                    count,
                },
            ));
        }
        #[allow(unreachable_code)]
        let delay = schedule::requested_level(&records, count)
            .map_err(|e| ServiceError::MessageIllegal(e.to_string()))?;
        let appended = match delay {
            Some(level) => {
                let (msg, born) = delayed_message(topic, &records)?;
                self.scheduler
                    .schedule(&self.store, msg, born, queue_id, level)
                    .await
            }
            None => {
                let records = records
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                self.store.append(topic, queue_id, records, count).await
            }
        };
        let (status, r) = match appended {
            Ok(r) => (SendStatus::Stored, r),
            Err(AppendError::FlushTimeout(r)) => (SendStatus::FlushTimedOut, r),
            Err(e) => return Err(e.into()),
        };
        // A delayed message is stored as another record; the log's end
        // covers it.
        let end = match delay {
            None => r.commit_log_offset.get() + len,
            Some(_) => self.store.log_end().get(),
        };
        if status == SendStatus::Stored && !self.wait_replicas(end).await {
            return Ok(sent(SendStatus::ReplicasTimedOut, r));
        }
        Ok(sent(status, r))
    }

    /// Reads a queue for a consumer group, holding the request while the
    /// queue is empty: until a message arrives, the hold time (capped by
    /// `max_pull_hold`) ends, the broker shuts down or `conn` closes. With
    /// a tag expression, non-matching records are skipped (see `filter`);
    /// a read that skipped everything answers `AllFiltered` at once.
    ///
    /// # Errors
    /// `TopicNotExist`, `NoPermission` (topic not readable, group may not
    /// consume), a store read error.
    pub(crate) async fn pull(
        &self,
        req: &PullMessageRequest,
        conn: &PeerHandle,
    ) -> Result<Pulled, ServiceError> {
        let topic = self.topic(&req.topic)?;
        if topic.perm & PERM_READ == 0 {
            return Err(ServiceError::NoPermission(format!(
                "topic {} is not readable on broker {}",
                req.topic, self.config.broker_name
            )));
        }
        if self
            .groups
            .subscriptions()
            .get(&req.consumer_group)
            .is_some_and(|g| !g.consume_enable)
        {
            return Err(ServiceError::NoPermission(format!(
                "consumer group {} may not consume (consume_enable is false)",
                req.consumer_group
            )));
        }
        let tags = TagFilter::parse(req.expression.as_deref());
        let max_messages = req.max_messages.clamp(1, MAX_PULL_MESSAGES);
        let max_bytes = req.max_bytes.max(1);
        let hold = Duration::from_millis(req.hold_ms).min(self.config.max_pull_hold);
        let deadline = Instant::now() + hold;
        let notify = self.long_poll.notifier(&req.topic, req.queue_id);
        loop {
            // Register interest before reading so an arrival in between wakes us.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let pulled = filter::read(
                &self.store,
                &req.topic,
                req.queue_id,
                req.queue_offset,
                max_messages,
                max_bytes,
                tags.as_ref(),
            )
            .map_err(|source| ServiceError::Store {
                context: "read failed".into(),
                source,
            })?;
            let read = match pulled {
                Pulled::Read(read) => read,
                all_filtered => return Ok(all_filtered),
            };
            let empty = matches!(read.status, ReadStatus::NoNewMessage)
                || (matches!(read.status, ReadStatus::NoQueue) && req.queue_offset.get() == 0);
            if !empty || Instant::now() >= deadline || self.is_shutting_down() || conn.is_closed() {
                self.stats.add_gets(read.records.len() as u64);
                return Ok(Pulled::Read(read));
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.shutdown.cancelled() => {}
                // Nobody will read the answer: stop holding.
                _ = conn.gone() => {}
            }
        }
    }

    /// Where the consumer of `read` should pull next (`slaveReadEnable`):
    /// a slave while the log holds more than `slave_read_lag_bytes` after
    /// the last record read, else the master, 0. A master with the setting
    /// suggests slave 1 (when a slave is in sync); a slave keeps such a
    /// consumer (its own id) and sends it back once it is near the end.
    pub(crate) fn suggest_reader(&self, read: &ferromq_store::ReadResult) -> u64 {
        let ha = &self.config.ha;
        if !ha.slave_read_enable && !self.is_slave() {
            return 0;
        }
        let Some(last) = read.records.iter().last() else {
            return 0;
        };
        let Some(at) = ferromq_protocol::record::raw::commit_log_offset(&last) else {
            return 0;
        };
        let behind = self
            .store
            .log_end()
            .get()
            .saturating_sub(at + last.len() as u64);
        if behind <= ha.slave_read_lag_bytes {
            return 0;
        }
        if self.is_slave() {
            self.broker_id()
        } else {
            u64::from(self.replicas.in_sync() > 1)
        }
    }

    /// Messages of `topic` by key or unique id, through the store's index;
    /// none found is an empty list.
    ///
    /// # Errors
    /// `TopicNotExist`, `InvalidArgument` (a bad key or id), a store
    /// lookup error.
    pub(crate) async fn query_messages(
        &self,
        topic: TopicName,
        by: QueryBy,
    ) -> Result<Vec<Bytes>, ServiceError> {
        self.topic(&topic)?;
        by.check()
            .map_err(|e| ServiceError::InvalidArgument(e.to_string()))?;
        let store = self.store.clone();
        // Index lookups read the disk at scattered places: keep them off the
        // runtime's worker threads.
        tokio::task::spawn_blocking(move || match by {
            QueryBy::Key {
                key,
                max,
                begin_ms,
                end_ms,
            } => {
                let max = max.clamp(1, MAX_QUERY_MESSAGES) as usize;
                store.query_by_key(&topic, &key, max, begin_ms, end_ms)
            }
            QueryBy::UniqueId(id) => store
                .query_by_unique_id(&topic, &id)
                .map(|m| m.into_iter().collect()),
        })
        .await
        .map_err(|source| ServiceError::Task {
            what: "query",
            source,
        })?
        .map_err(|source| ServiceError::Store {
            context: "query failed".into(),
            source,
        })
    }

    /// The record at a commit-log offset (a message id names one), without
    /// the index.
    ///
    /// # Errors
    /// `NotFound` when no message starts there; a store read error.
    pub(crate) fn view_message(&self, offset: CommitLogOffset) -> Result<Bytes, ServiceError> {
        match self.store.read_at(offset) {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(ServiceError::NotFound(format!(
                "no message at commit-log offset {offset} on broker {} (deleted by retention, or not a message id of this broker)",
                self.config.broker_name
            ))),
            Err(source) => Err(ServiceError::Store {
                context: format!("cannot read commit-log offset {offset}"),
                source,
            }),
        }
    }

    /// One past the last message of a queue.
    ///
    /// # Errors
    /// `TopicNotExist`.
    pub(crate) fn max_offset(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
    ) -> Result<QueueOffset, ServiceError> {
        self.topic(topic)?;
        Ok(self.store.max_offset(topic, queue_id))
    }

    /// The first message still stored in a queue.
    ///
    /// # Errors
    /// `TopicNotExist`.
    pub(crate) fn min_offset(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
    ) -> Result<QueueOffset, ServiceError> {
        self.topic(topic)?;
        Ok(self.store.min_offset(topic, queue_id))
    }

    /// The first queue offset stored at or after a time, by the store's
    /// binary search over the queue.
    ///
    /// # Errors
    /// `TopicNotExist`.
    pub(crate) fn offset_by_time(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
        timestamp_ms: u64,
    ) -> Result<QueueOffset, ServiceError> {
        self.topic(topic)?;
        Ok(self
            .store
            .offset_by_timestamp(topic, queue_id, timestamp_ms))
    }
}

/// The one record of a delayed send, decoded to be rewritten for the
/// schedule topic, with its born fields.
fn delayed_message(topic: &TopicName, body: &Bytes) -> Result<(Message, BornInfo), ServiceError> {
    let m = record::decode(body).map_err(|e| ServiceError::MessageIllegal(e.to_string()))?;
    if m.stored_size as usize != body.len() {
        return Err(ServiceError::MessageIllegal(
            "body holds more than the one record announced".into(),
        ));
    }
    if m.message.topic != *topic {
        return Err(ServiceError::MessageIllegal(format!(
            "record is for topic {}, not {topic}",
            m.message.topic
        )));
    }
    let born = born_of(&m, m.reconsume_times);
    Ok((m.message, born))
}
