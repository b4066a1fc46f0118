//! Message-level helpers for tools: queue offsets and reading messages at
//! an offset without a consumer (nothing is committed).

use bytes::Bytes;
use ferromq_protocol::header::{GetMaxOffsetRequest, GetMinOffsetRequest, PullMessageRequest};
use ferromq_protocol::{GroupName, QueueOffset, ResponseCode, StoredMessage};

use super::AdminClient;
use crate::decode;
use crate::error::{ClientError, Result};
use crate::route::MessageQueue;

/// Group named in the reads of [`AdminClient::read_messages`]; it never
/// commits.
pub const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";

impl AdminClient {
    pub(super) async fn queue_addr(&self, q: &MessageQueue) -> Result<String> {
        let route = self.client.topic_route(&q.topic).await?;
        route
            .master_addr(&q.broker_name)
            .map(str::to_string)
            .ok_or_else(|| ClientError::BrokerUnavailable(q.broker_name.to_string()))
    }

    /// The lowest offset `q` still holds and one past its newest message.
    ///
    /// # Errors
    /// Route and broker errors.
    pub async fn queue_offsets(&self, q: &MessageQueue) -> Result<(QueueOffset, QueueOffset)> {
        let addr = self.queue_addr(q).await?;
        let (topic, queue_id) = (q.topic.clone(), q.queue_id);
        let min = self
            .client
            .call_header(
                &addr,
                &GetMinOffsetRequest {
                    topic: topic.clone(),
                    queue_id,
                },
            )
            .await?;
        let max = self
            .client
            .call_header(&addr, &GetMaxOffsetRequest { topic, queue_id })
            .await?;
        Ok((min.offset, max.offset))
    }

    /// Up to `max` messages of `q` from `offset` on, read without holding
    /// and without committing anything. Empty if there are none there.
    ///
    /// # Errors
    /// Route and broker errors; a corrupt record or compressed body.
    pub async fn read_messages(
        &self,
        q: &MessageQueue,
        offset: QueueOffset,
        max: u32,
    ) -> Result<Vec<StoredMessage>> {
        let addr = self.queue_addr(q).await?;
        let req = PullMessageRequest {
            consumer_group: GroupName::new(TOOLS_CONSUMER_GROUP)?,
            topic: q.topic.clone(),
            queue_id: q.queue_id,
            queue_offset: offset,
            max_messages: max.max(1),
            max_bytes: 8 * 1024 * 1024,
            hold_ms: 0,
            expression: None,
        };
        let timeout = self.client.config().request_timeout();
        let reply = self.client.call(&addr, &req, Bytes::new(), timeout).await?;
        match reply.code {
            ResponseCode::Success => decode::messages(&reply.body),
            _ => Ok(Vec::new()),
        }
    }
}
