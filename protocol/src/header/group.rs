//! Consumer groups: heartbeats and membership, redelivery, queue locks,
//! subscription groups and offset resets.

use serde::{Deserialize, Serialize};

use super::{Empty, Rpc};
use crate::code::RequestCode;
use crate::ids::{CommitLogOffset, QueueId, QueueOffset};
use crate::names::{GroupName, TopicName};

/// Prefix of a group's retry topic.
pub const RETRY_PREFIX: &str = "%RETRY%";
/// Prefix of a group's dead-letter topic.
pub const DLQ_PREFIX: &str = "%DLQ%";
/// Internal topic holding delayed messages until they are due.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Reconsumes before a message goes to the dead-letter topic.
pub const DEFAULT_MAX_RECONSUME_TIMES: u32 = 16;
/// RocketMQ's delay levels; level `n` (1-based) waits `DEFAULT_DELAY_LEVELS[n-1]`.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Property: the topic a retried, delayed or dead-lettered message was sent to.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// Property: the queue of `REAL_TOPIC`.
pub const PROPERTY_REAL_QUEUE_ID: &str = "REAL_QID";
/// Property: delay level of a scheduled message.
pub const PROPERTY_DELAY_LEVEL: &str = "DELAY";
/// Property: the original message id of a retried message.
pub const PROPERTY_ORIGIN_MSG_ID: &str = "ORIGIN_MESSAGE_ID";
/// Property: the topic a message was first sent to (kept through retries and DLQ).
pub const PROPERTY_RETRY_TOPIC: &str = "RETRY_TOPIC";

/// The retry topic of a group.
pub fn retry_topic(group: &GroupName) -> Option<TopicName> {
    TopicName::new(format!("{RETRY_PREFIX}{group}")).ok()
}

/// The dead-letter topic of a group.
pub fn dlq_topic(group: &GroupName) -> Option<TopicName> {
    TopicName::new(format!("{DLQ_PREFIX}{group}")).ok()
}

/// Clustering (each message to one member) or broadcasting (to every member).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageModel {
    /// One member per message.
    Clustering,
    /// Every member gets every message.
    Broadcasting,
}

/// Pull (the application polls) or push (a listener is called).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsumeType {
    /// Pull consumer.
    Pull,
    /// Push consumer.
    Push,
}

/// One topic subscription with its tag expression (`*`, `TagA || TagB`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Topic.
    pub topic: TopicName,
    /// Tag expression.
    pub expression: String,
}

/// A consumer group as one client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerData {
    /// Group.
    pub group: GroupName,
    /// Pull or push.
    pub consume_type: ConsumeType,
    /// Clustering or broadcasting.
    pub model: MessageModel,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
}

/// Sent by every client to every broker it uses, periodically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// Unique per client instance (`ip@pid@n`).
    pub client_id: String,
    /// Consumer groups of this client.
    pub consumers: Vec<ConsumerData>,
    /// Producer groups of this client.
    pub producers: Vec<GroupName>,
    /// Client software version.
    pub version: String,
}

impl Rpc for HeartbeatRequest {
    const CODE: RequestCode = RequestCode::Heartbeat;
    type Response = Empty;
}

/// A client leaves a group (clean shutdown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterClientRequest {
    /// Client id.
    pub client_id: String,
    /// Consumer group left, if any.
    pub consumer_group: Option<GroupName>,
    /// Producer group left, if any.
    pub producer_group: Option<GroupName>,
}

impl Rpc for UnregisterClientRequest {
    const CODE: RequestCode = RequestCode::UnregisterClient;
    type Response = Empty;
}

/// Client ids of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetConsumerListRequest {
    /// Group.
    pub group: GroupName,
}

/// Reply: the group's live client ids, sorted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerList {
    /// Client ids.
    pub client_ids: Vec<String>,
}

impl Rpc for GetConsumerListRequest {
    const CODE: RequestCode = RequestCode::GetConsumerListByGroup;
    type Response = ConsumerList;
}

/// Broker → client, oneway: `group`'s membership changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyConsumerIdsChanged {
    /// Group.
    pub group: GroupName,
}

impl Rpc for NotifyConsumerIdsChanged {
    const CODE: RequestCode = RequestCode::NotifyConsumerIdsChanged;
    type Response = Empty;
}

/// A consumer hands back a message it failed to process. The broker stores
/// a copy in `%RETRY%<group>` with the delay of its reconsume count, or in
/// `%DLQ%<group>` after the group's maximum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMsgBackRequest {
    /// Group that failed it.
    pub group: GroupName,
    /// Commit-log offset of the message as consumed.
    pub offset: CommitLogOffset,
    /// Explicit delay level; 0 lets the broker choose (3 + reconsume times).
    pub delay_level: u32,
    /// Overrides the group's max reconsume times (None: the group's config).
    pub max_reconsume_times: Option<u32>,
}

impl Rpc for SendMsgBackRequest {
    const CODE: RequestCode = RequestCode::ConsumerSendMsgBack;
    type Response = Empty;
}

/// A queue of a topic on the broker receiving the request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueRef {
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
}

/// Take (or renew) locks on queues for orderly consumption. A lock expires
/// 60 s after its last renewal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBatchRequest {
    /// Group.
    pub group: GroupName,
    /// Client asking.
    pub client_id: String,
    /// Queues wanted.
    pub queues: Vec<QueueRef>,
}

/// The queues this client now holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBatchResponse {
    /// Locked (or renewed) queues.
    pub locked: Vec<QueueRef>,
}

impl Rpc for LockBatchRequest {
    const CODE: RequestCode = RequestCode::LockBatchMq;
    type Response = LockBatchResponse;
}

/// Release locks this client holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockBatchRequest {
    /// Group.
    pub group: GroupName,
    /// Client releasing.
    pub client_id: String,
    /// Queues released.
    pub queues: Vec<QueueRef>,
}

impl Rpc for UnlockBatchRequest {
    const CODE: RequestCode = RequestCode::UnlockBatchMq;
    type Response = Empty;
}

/// A subscription group's settings on a broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionGroupConfig {
    /// Group.
    pub group: GroupName,
    /// Reconsumes before the dead-letter topic (16).
    pub retry_max_times: u32,
    /// Whether the group consumes in broadcasting mode.
    pub consume_broadcast: bool,
    /// Whether the group may consume at all.
    pub consume_enable: bool,
}

impl SubscriptionGroupConfig {
    /// Defaults for a group first seen on a heartbeat.
    pub fn new(group: GroupName) -> Self {
        Self {
            group,
            retry_max_times: DEFAULT_MAX_RECONSUME_TIMES,
            consume_broadcast: false,
            consume_enable: true,
        }
    }
}

/// Create or update a subscription group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSubscriptionGroupRequest {
    /// New settings.
    pub config: SubscriptionGroupConfig,
}

impl Rpc for UpdateSubscriptionGroupRequest {
    const CODE: RequestCode = RequestCode::UpdateSubscriptionGroup;
    type Response = Empty;
}

/// Delete a subscription group (and its offsets on the broker).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubscriptionGroupRequest {
    /// Group.
    pub group: GroupName,
}

impl Rpc for DeleteSubscriptionGroupRequest {
    const CODE: RequestCode = RequestCode::DeleteSubscriptionGroup;
    type Response = Empty;
}

/// Who is in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetConsumerConnectionsRequest {
    /// Group.
    pub group: GroupName,
}

/// One client connection of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerConnection {
    /// Client id.
    pub client_id: String,
    /// Remote address of its connection.
    pub addr: String,
    /// Client version.
    pub version: String,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ago_ms: u64,
}

/// Reply to [`GetConsumerConnectionsRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerConnections {
    /// Connections.
    pub connections: Vec<ConsumerConnection>,
    /// The group's subscriptions (from the latest heartbeat).
    pub subscriptions: Vec<Subscription>,
    /// Pull or push, if known.
    pub consume_type: Option<ConsumeType>,
    /// Clustering or broadcasting, if known.
    pub model: Option<MessageModel>,
}

impl Rpc for GetConsumerConnectionsRequest {
    const CODE: RequestCode = RequestCode::GetConsumerConnectionList;
    type Response = ConsumerConnections;
}

/// Reset `group`'s offsets on `topic` to the first message stored at or
/// after `timestamp_ms`; live members are told at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetOffsetRequest {
    /// Group.
    pub group: GroupName,
    /// Topic.
    pub topic: TopicName,
    /// Point in time, ms since the epoch.
    pub timestamp_ms: u64,
}

/// The offsets a reset chose, per queue of the broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetOffsetResponse {
    /// (queue, new offset).
    pub offsets: Vec<(QueueId, QueueOffset)>,
}

impl Rpc for ResetOffsetRequest {
    const CODE: RequestCode = RequestCode::ResetOffsetByTime;
    type Response = ResetOffsetResponse;
}

/// Broker → client, oneway: continue `group` on `topic` from these offsets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetOffsetNotify {
    /// Group.
    pub group: GroupName,
    /// Topic.
    pub topic: TopicName,
    /// (queue, new offset) on the sending broker.
    pub offsets: Vec<(QueueId, QueueOffset)>,
}

impl Rpc for ResetOffsetNotify {
    const CODE: RequestCode = RequestCode::ResetOffsetNotify;
    type Response = Empty;
}

/// Splits a tag expression into its tags; `None` means every tag (`*` or
/// empty).
pub fn parse_tag_expression(expr: &str) -> Option<Vec<String>> {
    let expr = expr.trim();
    if expr.is_empty() || expr == "*" {
        return None;
    }
    Some(
        expr.split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions() {
        assert_eq!(parse_tag_expression("*"), None);
        assert_eq!(parse_tag_expression(" "), None);
        assert_eq!(
            parse_tag_expression("TagA || TagB"),
            Some(vec!["TagA".to_string(), "TagB".to_string()])
        );
    }

    #[test]
    fn retry_and_dlq_names() {
        let g = GroupName::new("g1").unwrap();
        assert_eq!(retry_topic(&g).unwrap().as_str(), "%RETRY%g1");
        assert_eq!(dlq_topic(&g).unwrap().as_str(), "%DLQ%g1");
    }
}
