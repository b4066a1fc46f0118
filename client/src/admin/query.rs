//! Message lookups: by offset message id (straight to the broker that
//! stored it), by key and by unique id (every master of the topic, merged),
//! by queue offset, and a queue offset by store time. Messages come back
//! decoded and decompressed.

use std::cmp::Reverse;
use std::ops::RangeInclusive;

use bytes::Bytes;
use ferromq_protocol::header::{
    QueryBy, QueryMessageRequest, SearchOffsetRequest, ViewMessageByIdRequest, MAX_QUERY_MESSAGES,
};
use ferromq_protocol::{
    BrokerName, MessageId, QueueId, QueueOffset, RecordError, ResponseCode, StoredMessage,
    TopicName,
};
use tracing::debug;

use super::{all, AdminClient};
use crate::decode;
use crate::error::{ClientError, Result};
use crate::route::MessageQueue;

impl AdminClient {
    /// The message with offset id `id`, read from the broker the id names
    /// (its store host) without any index and without asking the
    /// NameServers. `None` if that broker has no record at that offset
    /// (deleted by retention, or not an id of that broker).
    ///
    /// # Errors
    /// Transport errors reaching the store host; a corrupt record or
    /// compressed body.
    pub async fn query_by_id(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        let addr = id.store_host().to_string();
        let req = ViewMessageByIdRequest {
            offset: id.offset(),
        };
        let timeout = self.client.config().request_timeout();
        let reply = match self.client.call(&addr, &req, Bytes::new(), timeout).await {
            Ok(r) => r,
            Err(e) if e.response_code() == Some(ResponseCode::QueryNotFound) => {
                debug!(%id, error = %e, "no message at that offset");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // Exactly the one record asked for, or the broker is confused.
        let mut msgs = decode::messages(&reply.body)?.into_iter();
        match (msgs.next(), msgs.next()) {
            (Some(m), None) if m.commit_log_offset == id.offset() => Ok(Some(m)),
            (None, _) => Ok(None),
            _ => Err(ClientError::Record(RecordError::Malformed(
                "the broker answered a view by id with another record than asked for",
            ))),
        }
    }

    /// Up to `max` messages of `topic` with key `key`, newest first, from
    /// every master broker of the topic. `max` is capped at
    /// [`MAX_QUERY_MESSAGES`].
    ///
    /// # Errors
    /// As [`Self::query_by_key_in_range`].
    pub async fn query_by_key(
        &self,
        topic: &TopicName,
        key: &str,
        max: u32,
    ) -> Result<Vec<StoredMessage>> {
        self.query_by_key_in_range(topic, key, max, 0..=u64::MAX)
            .await
    }

    /// Like [`Self::query_by_key`], for messages stored within `stored`
    /// (ms since the epoch, inclusive).
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for an empty key, a key with a
    /// space, `max` 0 or a reversed range; [`ClientError::NoRoute`] for an
    /// unknown topic; the first broker failure (a partial answer could hide
    /// the very message looked for).
    pub async fn query_by_key_in_range(
        &self,
        topic: &TopicName,
        key: &str,
        max: u32,
        stored: RangeInclusive<u64>,
    ) -> Result<Vec<StoredMessage>> {
        if max == 0 {
            return Err(ClientError::InvalidArgument(
                "max must be at least 1".into(),
            ));
        }
        let max = max.min(MAX_QUERY_MESSAGES);
        let by = QueryBy::Key {
            key: key.to_string(),
            max,
            begin_ms: *stored.start(),
            end_ms: *stored.end(),
        };
        let mut msgs = self.query_masters(topic, by).await?;
        msgs.truncate(max as usize);
        Ok(msgs)
    }

    /// The messages of `topic` whose producer unique id (`UNIQ_KEY`) is
    /// `unique_id`, newest first, from every master broker of the topic.
    /// Normally one; a send retried on another broker after a timeout can
    /// have stored a second copy, and both are returned.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for an empty id;
    /// [`ClientError::NoRoute`]; the first broker failure.
    pub async fn query_by_unique_id(
        &self,
        topic: &TopicName,
        unique_id: &str,
    ) -> Result<Vec<StoredMessage>> {
        self.query_masters(topic, QueryBy::UniqueId(unique_id.to_string()))
            .await
    }

    /// Sends one query to every master of the topic's route and merges the
    /// answers, newest first.
    async fn query_masters(&self, topic: &TopicName, by: QueryBy) -> Result<Vec<StoredMessage>> {
        by.check()
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        let route = self.client.refresh_route(topic).await?;
        let req = QueryMessageRequest {
            topic: topic.clone(),
            by,
        };
        let timeout = self.client.config().request_timeout();
        let results = all(route.masters(), |(name, addr)| {
            let req = &req;
            async move {
                let reply = self.client.call(addr, req, Bytes::new(), timeout).await?;
                if reply.header.truncated {
                    debug!(broker = %name, "query answer truncated by the broker");
                }
                decode::messages(&reply.body)
            }
        })
        .await;
        let mut msgs = Vec::new();
        for r in results {
            msgs.extend(r?);
        }
        msgs.sort_by_key(|m| Reverse((m.store_timestamp, m.commit_log_offset)));
        Ok(msgs)
    }

    /// The message at `offset` of queue `queue_id` of `topic` on the broker
    /// named `broker`, read from its master with a pull that is not held
    /// and commits nothing. `None` if the queue has no message there.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`]; [`ClientError::BrokerUnavailable`] if the
    /// broker has no live master in the topic's route; broker errors; a
    /// corrupt record or compressed body.
    pub async fn query_by_offset(
        &self,
        broker: &BrokerName,
        topic: &TopicName,
        queue_id: QueueId,
        offset: QueueOffset,
    ) -> Result<Option<StoredMessage>> {
        let q = MessageQueue::new(topic.clone(), broker.clone(), queue_id);
        let msgs = self.read_messages(&q, offset, 1).await?;
        Ok(msgs.into_iter().find(|m| m.queue_offset == offset))
    }

    /// The offset of the first message of `q` stored at or after
    /// `timestamp_ms` (ms since the epoch): the queue's max offset if none
    /// is, its min offset if all are.
    ///
    /// # Errors
    /// Route and broker errors.
    pub async fn search_offset(&self, q: &MessageQueue, timestamp_ms: u64) -> Result<QueueOffset> {
        let addr = self.queue_addr(q).await?;
        let req = SearchOffsetRequest {
            topic: q.topic.clone(),
            queue_id: q.queue_id,
            timestamp_ms,
        };
        Ok(self.client.call_header(&addr, &req).await?.offset)
    }
}
