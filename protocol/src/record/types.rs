//! The owned forms of a message: what an application builds and what it
//! gets back from a broker.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;

use super::PROPERTY_UNIQ_KEY;
use crate::ids::{CommitLogOffset, MessageId, QueueId, QueueOffset};
use crate::names::TopicName;

/// A message as an application builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: TopicName,
    /// Optional tag, used for broker-side filtering.
    pub tags: Option<String>,
    /// Business keys, indexed for lookup.
    pub keys: Vec<String>,
    /// User properties.
    pub properties: BTreeMap<String, String>,
    /// Payload.
    pub body: Bytes,
}

impl Message {
    /// A message with a body and nothing else.
    pub fn new(topic: TopicName, body: impl Into<Bytes>) -> Self {
        Self {
            topic,
            tags: None,
            keys: Vec::new(),
            properties: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// Sets the tag.
    #[must_use]
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Adds a key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Sets a user property.
    #[must_use]
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }
}

/// A message as stored by a broker, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The message's own fields.
    pub message: Message,
    /// Record flags.
    pub flags: u32,
    /// Queue the message is in.
    pub queue_id: QueueId,
    /// Position in that queue.
    pub queue_offset: QueueOffset,
    /// Position in the broker's commit log.
    pub commit_log_offset: CommitLogOffset,
    /// Size of the stored record in bytes.
    pub stored_size: u32,
    /// When the producer created it (ms since the epoch).
    pub born_timestamp: u64,
    /// When the broker stored it (ms since the epoch).
    pub store_timestamp: u64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Broker address.
    pub store_host: SocketAddr,
    /// How often it has been redelivered.
    pub reconsume_times: u32,
}

impl StoredMessage {
    /// The offset message id (store host + commit-log offset).
    pub fn msg_id(&self) -> MessageId {
        MessageId::new(self.store_host, self.commit_log_offset)
    }

    /// The producer-assigned unique id, if any.
    pub fn unique_id(&self) -> Option<&str> {
        self.message
            .properties
            .get(PROPERTY_UNIQ_KEY)
            .map(String::as_str)
    }
}
