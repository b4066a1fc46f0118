//! Consumer-group administration on [`AdminClient`] (what `mqadmin
//! updateSubGroup`, `deleteSubGroup`, `consumerConnection` and
//! `resetOffsetByTime` call). It lives beside the push consumer because it
//! speaks the same group protocol.

use std::collections::BTreeMap;

use ferromq_protocol::header::{
    ConsumerConnections, DeleteSubscriptionGroupRequest, GetConsumeStatsRequest,
    GetConsumerConnectionsRequest, ResetOffsetRequest, SubscriptionGroupConfig,
    UpdateSubscriptionGroupRequest,
};
use ferromq_protocol::{BrokerName, ClusterName, GroupName, QueueId, QueueOffset, TopicName};
use tracing::info;

use crate::admin::AdminClient;
use crate::error::{ClientError, Result};

/// Which brokers a subscription-group change goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupTarget {
    /// Every master broker of a cluster.
    Cluster(ClusterName),
    /// One broker, by address.
    Broker(String),
}

/// One broker's view of a group's members.
#[derive(Debug)]
pub struct BrokerConsumerConnections {
    /// Broker name.
    pub broker_name: BrokerName,
    /// Its master address.
    pub broker_addr: String,
    /// The members connected to it and their subscriptions, or why the
    /// broker did not answer.
    pub result: Result<ConsumerConnections>,
}

/// One queue's offset before and after a reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueReset {
    /// Broker name.
    pub broker_name: BrokerName,
    /// Queue.
    pub queue_id: QueueId,
    /// The group's committed offset before (`None`: never committed).
    pub old: Option<QueueOffset>,
    /// The offset the group continues from.
    pub new: QueueOffset,
}

impl AdminClient {
    async fn group_targets(&self, target: &GroupTarget) -> Result<Vec<String>> {
        Ok(match target {
            GroupTarget::Cluster(c) => self
                .cluster_masters(c)
                .await?
                .into_iter()
                .map(|(_, a)| a)
                .collect(),
            GroupTarget::Broker(a) => vec![a.clone()],
        })
    }

    /// Creates or updates a subscription group (its retry limit,
    /// broadcasting flag, whether it may consume) and returns the brokers
    /// changed.
    ///
    /// # Errors
    /// Unknown cluster; the first broker failure (after trying all).
    pub async fn update_subscription_group(
        &self,
        target: &GroupTarget,
        config: &SubscriptionGroupConfig,
    ) -> Result<Vec<String>> {
        let addrs = self.group_targets(target).await?;
        let req = UpdateSubscriptionGroupRequest {
            config: config.clone(),
        };
        let calls = addrs.iter().map(|a| self.client().call_header(a, &req));
        for r in futures::future::join_all(calls).await {
            r?;
        }
        info!(group = %config.group, brokers = ?addrs, "subscription group updated");
        Ok(addrs)
    }

    /// Deletes a subscription group (and its offsets) and returns the
    /// brokers changed.
    ///
    /// # Errors
    /// As [`Self::update_subscription_group`].
    pub async fn delete_subscription_group(
        &self,
        target: &GroupTarget,
        group: &GroupName,
    ) -> Result<Vec<String>> {
        let addrs = self.group_targets(target).await?;
        let req = DeleteSubscriptionGroupRequest {
            group: group.clone(),
        };
        let calls = addrs.iter().map(|a| self.client().call_header(a, &req));
        for r in futures::future::join_all(calls).await {
            r?;
        }
        info!(%group, brokers = ?addrs, "subscription group deleted");
        Ok(addrs)
    }

    /// Every master broker's view of the group's members, by broker name.
    ///
    /// # Errors
    /// NameServer errors; each broker's own failure is in its entry.
    pub async fn consumer_connections(
        &self,
        group: &GroupName,
    ) -> Result<Vec<BrokerConsumerConnections>> {
        let masters = self.all_masters().await?;
        let req = GetConsumerConnectionsRequest {
            group: group.clone(),
        };
        let calls = masters.into_iter().map(|(broker_name, broker_addr)| {
            let req = &req;
            async move {
                let result = self.client().call_header(&broker_addr, req).await;
                BrokerConsumerConnections {
                    broker_name,
                    broker_addr,
                    result,
                }
            }
        });
        let mut out = futures::future::join_all(calls).await;
        out.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        Ok(out)
    }

    /// Moves `group`'s offsets on every queue of `topic` to the first
    /// message stored at or after `timestamp_ms`, on every master broker
    /// of the topic; running members continue from there at once. Returns
    /// each queue's old and new offset, sorted.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] for an unknown topic; the first broker
    /// failure (after trying all).
    pub async fn reset_offset_by_time(
        &self,
        group: &GroupName,
        topic: &TopicName,
        timestamp_ms: u64,
    ) -> Result<Vec<QueueReset>> {
        let route = self.client().refresh_route(topic).await?;
        let masters: Vec<(BrokerName, String)> = route
            .masters()
            .map(|(n, a)| (n.clone(), a.to_string()))
            .collect();
        if masters.is_empty() {
            return Err(ClientError::BrokerUnavailable(format!(
                "every broker of {topic}"
            )));
        }
        let calls = masters.iter().map(|(name, addr)| async move {
            let stats = GetConsumeStatsRequest {
                consumer_group: group.clone(),
                topic: Some(topic.clone()),
            };
            let before: BTreeMap<QueueId, Option<QueueOffset>> = self
                .client()
                .call_header(addr, &stats)
                .await?
                .queues
                .into_iter()
                .filter(|q| q.topic == *topic)
                .map(|q| (q.queue_id, q.consumer_offset))
                .collect();
            let req = ResetOffsetRequest {
                group: group.clone(),
                topic: topic.clone(),
                timestamp_ms,
            };
            let after = self.client().call_header(addr, &req).await?;
            Ok::<_, ClientError>(
                after
                    .offsets
                    .into_iter()
                    .map(|(queue_id, new)| QueueReset {
                        broker_name: name.clone(),
                        queue_id,
                        old: before.get(&queue_id).copied().flatten(),
                        new,
                    })
                    .collect::<Vec<_>>(),
            )
        });
        let mut out = Vec::new();
        for r in futures::future::join_all(calls).await {
            out.extend(r?);
        }
        out.sort_by(|a, b| (&a.broker_name, a.queue_id).cmp(&(&b.broker_name, b.queue_id)));
        info!(%group, %topic, timestamp_ms, queues = out.len(), "offsets reset");
        Ok(out)
    }
}
