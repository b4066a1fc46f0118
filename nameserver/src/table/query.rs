//! Read-only views of the tables, in wire types.

use std::time::{Duration, Instant};

use ferromq_protocol::header::{ClusterInfo, LiveBroker, TopicList, TopicRouteData};
use ferromq_protocol::TopicName;

use super::RouteTable;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RouteTable {
    /// The topic's queues and the addresses of the broker names holding
    /// them; `None` if no broker has the topic. Broker names without a live
    /// address are left out of `broker_datas`: a client cannot use them.
    pub(crate) fn route(&self, topic: &TopicName) -> Option<TopicRouteData> {
        let queues = self.topics.get(topic)?;
        Some(TopicRouteData {
            queue_datas: queues.values().cloned().collect(),
            broker_datas: queues
                .keys()
                .filter_map(|name| self.brokers.get(name))
                .filter(|data| !data.addrs.is_empty())
                .cloned()
                .collect(),
        })
    }

    /// Clusters, broker names and live addresses (sorted by address), with
    /// ages measured at `now`.
    pub(crate) fn cluster_info(&self, now: Instant) -> ClusterInfo {
        ClusterInfo {
            brokers: self.brokers.clone(),
            clusters: self.clusters.clone(),
            live: self
                .live
                .iter()
                .map(|(addr, e)| LiveBroker {
                    addr: addr.clone(),
                    broker_name: e.broker_name.clone(),
                    broker_id: e.broker_id,
                    version: e.version.clone(),
                    last_heartbeat_ago_ms: millis(now.saturating_duration_since(e.last_heartbeat)),
                    registered_ago_ms: millis(now.saturating_duration_since(e.registered_at)),
                })
                .collect(),
        }
    }

    /// Every topic with a route, sorted.
    pub(crate) fn topic_list(&self) -> TopicList {
        TopicList {
            topics: self.topics.keys().cloned().collect(),
        }
    }
}
