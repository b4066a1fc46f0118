//! Topic administration: create, delete, list, route and per-queue status.

use std::collections::BTreeSet;

use ferromq_protocol::header::{
    DeleteTopicInNamesrvRequest, DeleteTopicRequest, GetAllTopicListRequest, GetTopicStatsRequest,
    QueueStats, TopicConfig, TopicList, TopicRouteData, UpdateTopicRequest,
};
use ferromq_protocol::{BrokerName, ClusterName, TopicName};
use tracing::{debug, info, warn};

use super::{all, AdminClient};
use crate::error::{ClientError, Result};

/// Most queues a topic may have per broker; a guard against typos.
const MAX_QUEUES: u32 = 1024;

/// One broker's view of a topic's queues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerTopicStatus {
    /// Broker name.
    pub broker_name: BrokerName,
    /// Its master address.
    pub broker_addr: String,
    /// Each queue's offsets and last store time.
    pub queues: Vec<QueueStats>,
}

impl AdminClient {
    /// Creates or updates `topic` on every master broker of `cluster`, and
    /// returns their addresses. The brokers then announce it to the
    /// NameServers (at once, and with every heartbeat).
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for bad queue counts or permission
    /// bits, or an unknown or empty cluster; the first broker failure
    /// (after trying every broker).
    pub async fn create_topic(
        &self,
        cluster: &ClusterName,
        topic: &TopicName,
        read_queues: u32,
        write_queues: u32,
        perm: u8,
    ) -> Result<Vec<String>> {
        let config = topic_config(topic, read_queues, write_queues, perm)?;
        let masters = self.cluster_masters(cluster).await?;
        let results = all(&masters, |(name, addr)| {
            let req = UpdateTopicRequest {
                config: config.clone(),
            };
            async move {
                self.client.call_header(addr, &req).await?;
                debug!(%name, %addr, "topic updated on broker");
                Ok::<_, ClientError>(addr.clone())
            }
        })
        .await;
        let addrs = results.into_iter().collect::<Result<Vec<_>>>()?;
        info!(%topic, %cluster, brokers = ?addrs, "topic created");
        Ok(addrs)
    }

    /// Creates or updates `topic` on the one broker at `addr`.
    ///
    /// # Errors
    /// As [`Self::create_topic`].
    pub async fn create_topic_on_broker(
        &self,
        addr: &str,
        topic: &TopicName,
        read_queues: u32,
        write_queues: u32,
        perm: u8,
    ) -> Result<()> {
        let config = topic_config(topic, read_queues, write_queues, perm)?;
        self.client
            .call_header(addr, &UpdateTopicRequest { config })
            .await?;
        Ok(())
    }

    /// Deletes `topic` from every master broker of `cluster`, then from every
    /// NameServer's route table (brokers first, so no heartbeat announces
    /// the topic again).
    ///
    /// # Errors
    /// An unknown cluster; the first failure (after trying every server).
    pub async fn delete_topic(&self, cluster: &ClusterName, topic: &TopicName) -> Result<()> {
        let masters = self.cluster_masters(cluster).await?;
        let req = DeleteTopicRequest {
            topic: topic.clone(),
        };
        let results = all(&masters, |(_, addr)| self.client.call_header(addr, &req)).await;
        results.into_iter().collect::<Result<Vec<_>>>()?;
        let req = DeleteTopicInNamesrvRequest {
            topic: topic.clone(),
        };
        for (addr, r) in self.client.namesrv_call_each(&req).await {
            if let Err(e) = r {
                warn!(%topic, namesrv = %addr, error = %e, "topic deleted on the brokers but not on this NameServer");
                return Err(e);
            }
        }
        info!(%topic, %cluster, "topic deleted");
        Ok(())
    }

    /// Every topic a NameServer knows, sorted.
    ///
    /// # Errors
    /// NameServer errors; [`ClientError::Header`] if the reply's body is not
    /// a topic list.
    pub async fn topic_list(&self) -> Result<Vec<TopicName>> {
        // The names are in the body (the header is empty): a NameServer may
        // know more topics than a header holds.
        let reply = self
            .client
            .namesrv_call_reply(&GetAllTopicListRequest {})
            .await?;
        Ok(TopicList::decode(&reply.body)?.topics)
    }

    /// The topic's route as the NameServer has it (read fresh, not cached).
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] for an unknown topic; NameServer errors.
    pub async fn topic_route(&self, topic: &TopicName) -> Result<TopicRouteData> {
        Ok(self.client.refresh_route(topic).await?.data().clone())
    }

    /// The clusters the brokers of `topic`'s route belong to.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] for an unknown topic; NameServer errors.
    pub async fn topic_clusters(&self, topic: &TopicName) -> Result<BTreeSet<ClusterName>> {
        let route = self.client.refresh_route(topic).await?;
        Ok(route
            .data()
            .broker_datas
            .iter()
            .map(|b| b.cluster.clone())
            .collect())
    }

    /// Per broker and queue: min and max offset and last store time.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`]; the first broker failure.
    pub async fn topic_status(&self, topic: &TopicName) -> Result<Vec<BrokerTopicStatus>> {
        let route = self.client.refresh_route(topic).await?;
        let req = GetTopicStatsRequest {
            topic: topic.clone(),
        };
        let results = all(route.masters(), |(name, addr)| {
            let req = &req;
            async move {
                let stats = self.client.call_header(addr, req).await?;
                Ok(BrokerTopicStatus {
                    broker_name: name.clone(),
                    broker_addr: addr.to_string(),
                    queues: stats.queues,
                })
            }
        })
        .await;
        results.into_iter().collect()
    }
}

fn topic_config(
    topic: &TopicName,
    read_queues: u32,
    write_queues: u32,
    perm: u8,
) -> Result<TopicConfig> {
    for (what, n) in [("read", read_queues), ("write", write_queues)] {
        if n == 0 || n > MAX_QUEUES {
            return Err(ClientError::InvalidArgument(format!(
                "{what} queue count {n} is outside 1..={MAX_QUEUES}"
            )));
        }
    }
    if perm & !0b111 != 0 {
        return Err(ClientError::InvalidArgument(format!(
            "permission {perm} is invalid: use 2 (write), 4 (read) or 6 (read and write)"
        )));
    }
    Ok(TopicConfig {
        name: topic.clone(),
        read_queues,
        write_queues,
        perm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_config_is_checked() {
        let t = TopicName::new("T").unwrap();
        assert!(topic_config(&t, 8, 8, 6).is_ok());
        assert!(topic_config(&t, 0, 8, 6).is_err());
        assert!(topic_config(&t, 8, 2000, 6).is_err());
        assert!(topic_config(&t, 8, 8, 8).is_err());
    }
}
