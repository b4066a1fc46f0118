//! Headers of requests served by brokers.

use serde::{Deserialize, Serialize};

use super::{Empty, Rpc};
use crate::code::RequestCode;
use crate::ids::{CommitLogOffset, QueueId, QueueOffset};
use crate::names::{GroupName, TopicName};

/// Append the records in the body (one or more, all for `topic`) to one queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageRequest {
    /// Producer group, for diagnostics.
    pub producer_group: Option<GroupName>,
    /// Topic every record in the body must name.
    pub topic: TopicName,
    /// Queue to append to.
    pub queue_id: QueueId,
    /// Number of records in the body.
    pub count: u32,
}

/// Where a send landed. Record `i` of the batch has queue offset
/// `queue_offset + i`; its commit-log offset is `commit_log_offset` plus the
/// sizes of the records before it, so the producer derives every message id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageResponse {
    /// Queue the batch went to.
    pub queue_id: QueueId,
    /// Queue offset of the first record.
    pub queue_offset: QueueOffset,
    /// Commit-log offset of the first record.
    pub commit_log_offset: CommitLogOffset,
    /// Store host that forms the message ids.
    pub store_host: std::net::SocketAddr,
}

impl Rpc for SendMessageRequest {
    const CODE: RequestCode = RequestCode::SendMessage;
    type Response = SendMessageResponse;
}

/// Read records of one queue from `queue_offset` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullMessageRequest {
    /// Consumer group.
    pub consumer_group: GroupName,
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
    /// First queue offset wanted.
    pub queue_offset: QueueOffset,
    /// At most this many records.
    pub max_messages: u32,
    /// At most about this many bytes (at least one record is returned).
    pub max_bytes: u32,
    /// Hold the request up to this long when there is nothing to read;
    /// 0 answers at once.
    pub hold_ms: u64,
    /// Tag expression (`TagA || TagB`); `None` or `*` takes every message.
    /// The broker skips non-matching messages by tag hash; clients re-check
    /// the tag string.
    pub expression: Option<String>,
}

/// Outcome of a pull. The body holds the records on `Success`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullMessageResponse {
    /// Where the next pull should start.
    pub next_offset: QueueOffset,
    /// Lowest offset the queue still holds.
    pub min_offset: QueueOffset,
    /// One past the highest offset in the queue.
    pub max_offset: QueueOffset,
    /// Which broker of the group the next pull should go to (RocketMQ
    /// suggestWhichBrokerId): 0, the master; 1, a slave, for a consumer
    /// far behind when the broker has `--slave-read-enable`.
    #[serde(default)]
    pub suggest_which_broker_id: u64,
}

impl Rpc for PullMessageRequest {
    const CODE: RequestCode = RequestCode::PullMessage;
    type Response = PullMessageResponse;
}

/// The committed offset of a group on one queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryConsumerOffsetRequest {
    /// Group.
    pub consumer_group: GroupName,
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
}

/// `None` when the group never committed on that queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryConsumerOffsetResponse {
    /// Next offset the group will consume.
    pub offset: Option<QueueOffset>,
}

impl Rpc for QueryConsumerOffsetRequest {
    const CODE: RequestCode = RequestCode::QueryConsumerOffset;
    type Response = QueryConsumerOffsetResponse;
}

/// One committed position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetEntry {
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
    /// Next offset to consume.
    pub offset: QueueOffset,
}

/// Commit offsets of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateConsumerOffsetRequest {
    /// Group.
    pub consumer_group: GroupName,
    /// Positions to commit.
    pub offsets: Vec<OffsetEntry>,
}

impl Rpc for UpdateConsumerOffsetRequest {
    const CODE: RequestCode = RequestCode::UpdateConsumerOffset;
    type Response = Empty;
}

/// Read permission bit.
pub const PERM_READ: u8 = 0b100;
/// Write permission bit.
pub const PERM_WRITE: u8 = 0b010;
/// Read and write.
pub const PERM_READ_WRITE: u8 = PERM_READ | PERM_WRITE;

/// A topic's configuration on one broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// Topic.
    pub name: TopicName,
    /// Queues consumers read.
    pub read_queues: u32,
    /// Queues producers write.
    pub write_queues: u32,
    /// Permission bits (`PERM_*`).
    pub perm: u8,
}

/// Create or update a topic on a broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateTopicRequest {
    /// The new configuration.
    pub config: TopicConfig,
}

impl Rpc for UpdateTopicRequest {
    const CODE: RequestCode = RequestCode::UpdateTopic;
    type Response = Empty;
}

/// Delete a topic (broker or NameServer, by code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTopicRequest {
    /// Topic.
    pub topic: TopicName,
}

impl Rpc for DeleteTopicRequest {
    const CODE: RequestCode = RequestCode::DeleteTopicInBroker;
    type Response = Empty;
}

/// Per-queue offsets of a topic on a broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTopicStatsRequest {
    /// Topic.
    pub topic: TopicName,
}

/// One queue's range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Queue.
    pub queue_id: QueueId,
    /// Lowest stored offset.
    pub min_offset: QueueOffset,
    /// One past the highest offset.
    pub max_offset: QueueOffset,
    /// Store time of the newest message, ms since the epoch (0 if empty).
    pub last_update_ms: u64,
}

/// Reply to [`GetTopicStatsRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicStats {
    /// One entry per queue.
    pub queues: Vec<QueueStats>,
}

impl Rpc for GetTopicStatsRequest {
    const CODE: RequestCode = RequestCode::GetTopicStats;
    type Response = TopicStats;
}

/// A group's progress on a broker, optionally for one topic only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetConsumeStatsRequest {
    /// Group.
    pub consumer_group: GroupName,
    /// Only this topic, or every topic the group committed on.
    pub topic: Option<TopicName>,
}

/// One queue's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueProgress {
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
    /// One past the highest offset on the broker.
    pub broker_offset: QueueOffset,
    /// The group's committed offset (`None` if never committed).
    pub consumer_offset: Option<QueueOffset>,
}

/// Reply to [`GetConsumeStatsRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumeStats {
    /// One entry per queue.
    pub queues: Vec<QueueProgress>,
}

impl Rpc for GetConsumeStatsRequest {
    const CODE: RequestCode = RequestCode::GetConsumeStats;
    type Response = ConsumeStats;
}

/// One past the highest offset of a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMaxOffsetRequest {
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
}

/// Lowest stored offset of a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMinOffsetRequest {
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
}

/// An offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetResponse {
    /// The offset.
    pub offset: QueueOffset,
}

impl Rpc for GetMaxOffsetRequest {
    const CODE: RequestCode = RequestCode::GetMaxOffset;
    type Response = OffsetResponse;
}

impl Rpc for GetMinOffsetRequest {
    const CODE: RequestCode = RequestCode::GetMinOffset;
    type Response = OffsetResponse;
}
