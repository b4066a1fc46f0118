//! Consumer send-back: a message a consumer failed to process comes back
//! later through `%RETRY%<group>`, delayed by its reconsume count, or —
//! past the group's maximum — is parked in `%DLQ%<group>`.
//!
//! The copy keeps the body, tags, keys and user properties (the unique id
//! included, so consumers can de-duplicate), records the topic it was first
//! sent to (`RETRY_TOPIC`, kept through repeated retries) and the id of
//! the first copy (`ORIGIN_MESSAGE_ID`), and carries the new reconsume
//! count in its record header.

use ferromq_protocol::header::{
    dlq_topic, retry_topic, SendMsgBackRequest, PROPERTY_DELAY_LEVEL, PROPERTY_ORIGIN_MSG_ID,
    PROPERTY_REAL_QUEUE_ID, PROPERTY_REAL_TOPIC, PROPERTY_RETRY_TOPIC,
};
use ferromq_protocol::record::{self, Message, StoredMessage};
use ferromq_protocol::{QueueId, TopicName};
use tracing::{debug, info};

use super::{Broker, ServiceError};
use crate::reappend::{append_message, born_of, written};

/// Delay level of the first retry when the consumer does not choose one
/// (RocketMQ: level 3, 10 s by default); each later retry waits one level
/// longer.
const FIRST_RETRY_LEVEL: u32 = 3;

/// Where a sent-back message went.
#[derive(Debug)]
pub(crate) enum SendBack {
    /// Scheduled for `%RETRY%<group>` at this delay level.
    Retry { level: u32, reconsume_times: u32 },
    /// Parked in the dead-letter topic.
    DeadLetter {
        topic: TopicName,
        reconsume_times: u32,
    },
}

impl Broker {
    /// A consumer hands back a message it failed to process: a retry copy
    /// is scheduled for `%RETRY%<group>`, or past the group's maximum
    /// reconsume times it is parked in `%DLQ%<group>`.
    ///
    /// # Errors
    /// `NoPermission` (broker wiped), `NotFound` (no message at the
    /// offset), `MessageIllegal` (it does not decode, or the group has no
    /// valid retry topic name), a store or topics-file failure; nothing is
    /// stored then.
    pub(crate) async fn send_back(
        &self,
        req: &SendMsgBackRequest,
    ) -> Result<SendBack, ServiceError> {
        if !self.state.writable() {
            return Err(ServiceError::NoPermission(format!(
                "broker {} is not writable (write permission wiped)",
                self.config.broker_name
            )));
        }
        let outcome = self.move_back(req).await?;
        match &outcome {
            SendBack::Retry {
                level,
                reconsume_times,
            } => {
                debug!(group = %req.group, offset = %req.offset, level, reconsume_times, "message scheduled for retry")
            }
            SendBack::DeadLetter {
                topic,
                reconsume_times,
            } => {
                debug!(group = %req.group, offset = %req.offset, %topic, reconsume_times, "message dead-lettered")
            }
        }
        Ok(outcome)
    }

    async fn move_back(&self, req: &SendMsgBackRequest) -> Result<SendBack, ServiceError> {
        let raw = self
            .store
            .read_at(req.offset)
            .map_err(|source| ServiceError::Store {
                context: "reading the message failed".into(),
                source,
            })?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no message at commit-log offset {}", req.offset))
            })?;
        let stored = record::decode(&raw).map_err(|e| {
            ServiceError::MessageIllegal(format!("stored message does not decode: {e}"))
        })?;
        let max = req.max_reconsume_times.unwrap_or_else(|| {
            self.groups
                .subscriptions()
                .get_or_default(&req.group)
                .retry_max_times
        });
        let before = stored.reconsume_times;
        let after = before.saturating_add(1);
        let born = born_of(&stored, after);
        let id = stored.msg_id();
        let mut copy = retry_copy(stored);
        if after > max {
            let topic = dlq_topic(&req.group).ok_or_else(|| {
                ServiceError::MessageIllegal(format!(
                    "group {} has no valid dead-letter topic name",
                    req.group
                ))
            })?;
            self.internal_topic(&topic)?;
            copy.topic = topic.clone();
            let r = written(append_message(&self.store, &copy, born, QueueId::new(0)).await)?;
            info!(group = %req.group, msg_id = %id, reconsume_times = after, %topic,
                  queue_offset = %r.queue_offset, "message moved to the dead-letter topic");
            return Ok(SendBack::DeadLetter {
                topic,
                reconsume_times: after,
            });
        }
        let topic = retry_topic(&req.group).ok_or_else(|| {
            ServiceError::MessageIllegal(format!(
                "group {} has no valid retry topic name",
                req.group
            ))
        })?;
        self.internal_topic(&topic)?;
        copy.topic = topic;
        let level = if req.delay_level > 0 {
            req.delay_level
        } else {
            FIRST_RETRY_LEVEL.saturating_add(before)
        };
        let level = self.scheduler.levels().clamp(level);
        written(
            self.scheduler
                .schedule(&self.store, copy, born, QueueId::new(0), level)
                .await,
        )?;
        Ok(SendBack::Retry {
            level,
            reconsume_times: after,
        })
    }
}

/// The stored message as a retry copy (its topic is set by the caller).
fn retry_copy(stored: StoredMessage) -> Message {
    let id = stored.msg_id().to_string();
    let mut msg = stored.message;
    // Scheduling properties of an earlier trip through the schedule topic
    // are not the copy's.
    for p in [
        PROPERTY_REAL_TOPIC,
        PROPERTY_REAL_QUEUE_ID,
        PROPERTY_DELAY_LEVEL,
    ] {
        msg.properties.remove(p);
    }
    msg.properties
        .entry(PROPERTY_RETRY_TOPIC.to_string())
        .or_insert_with(|| msg.topic.as_str().to_string());
    msg.properties
        .entry(PROPERTY_ORIGIN_MSG_ID.to_string())
        .or_insert(id);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_protocol::{CommitLogOffset, QueueOffset};

    fn stored(topic: &str) -> StoredMessage {
        StoredMessage {
            message: Message::new(TopicName::new(topic).unwrap(), &b"x"[..])
                .with_tags("TagA")
                .with_key("k1")
                .with_property("user", "1")
                .with_property("DELAY", "4"),
            flags: 0,
            queue_id: QueueId::new(0),
            queue_offset: QueueOffset::new(0),
            commit_log_offset: CommitLogOffset::new(4096),
            stored_size: 0,
            born_timestamp: 1,
            store_timestamp: 2,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 0,
        }
    }

    #[test]
    fn copy_keeps_the_first_topic_and_id() {
        let first = stored("Orders");
        let id = first.msg_id().to_string();
        let c = retry_copy(first);
        assert_eq!(c.properties[PROPERTY_RETRY_TOPIC], "Orders");
        assert_eq!(c.properties[PROPERTY_ORIGIN_MSG_ID], id);
        assert_eq!(c.properties["user"], "1");
        assert!(!c.properties.contains_key("DELAY"));
        assert_eq!(c.keys, vec!["k1"]);
        assert_eq!(c.tags.as_deref(), Some("TagA"));

        // The copy consumed from the retry topic and sent back again.
        let mut again = stored("%RETRY%g");
        again.message.properties = c.properties.clone();
        again.commit_log_offset = CommitLogOffset::new(9999);
        let c2 = retry_copy(again);
        assert_eq!(c2.properties[PROPERTY_RETRY_TOPIC], "Orders");
        assert_eq!(c2.properties[PROPERTY_ORIGIN_MSG_ID], id);
    }
}
