//! Heartbeats: every group member of this client, with its subscriptions,
//! announced to every master broker of the topics it subscribes to. A
//! broker lists a client as a group member from its first heartbeat until
//! it unregisters, its connection closes, or heartbeats stop.

use std::collections::BTreeSet;

use ferromq_protocol::header::{HeartbeatRequest, UnregisterClientRequest};
use ferromq_protocol::{GroupName, TopicName};
use tracing::{debug, warn};

use super::MqClient;

/// Reported to brokers as the client version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

impl MqClient {
    /// The heartbeat of this client: all its live group members.
    pub(crate) fn heartbeat_request(&self) -> HeartbeatRequest {
        let mut consumers: Vec<_> = self.members().iter().map(|m| m.consumer_data()).collect();
        consumers.sort_by(|a, b| a.group.cmp(&b.group));
        HeartbeatRequest {
            client_id: self.client_id().to_string(),
            consumers,
            producers: Vec::new(),
            version: VERSION.to_string(),
        }
    }

    /// Every broker (masters and slaves, since a consumer reads from a
    /// slave while its master is away) of every topic a member subscribes
    /// to. Topics
    /// without a route (a retry topic not created yet) are left out.
    pub(crate) async fn heartbeat_targets(&self) -> BTreeSet<String> {
        let topics: BTreeSet<TopicName> = self
            .members()
            .iter()
            .flat_map(|m| m.consumer_data().subscriptions)
            .map(|s| s.topic)
            .collect();
        let mut addrs = BTreeSet::new();
        for topic in topics {
            match self.topic_route(&topic).await {
                Ok(route) => addrs.extend(route.all_addrs().map(str::to_string)),
                Err(e) => debug!(%topic, error = %e, "no route; no heartbeat for it"),
            }
        }
        addrs
    }

    /// Sends this client's heartbeat to each of `addrs` at once and
    /// returns those that took it.
    pub(crate) async fn send_heartbeat(&self, addrs: &BTreeSet<String>) -> BTreeSet<String> {
        let req = self.heartbeat_request();
        let calls = addrs.iter().map(|addr| {
            let req = &req;
            async move { (addr, self.call_header(addr, req).await) }
        });
        let mut ok = BTreeSet::new();
        for (addr, r) in futures::future::join_all(calls).await {
            match r {
                Ok(_) => {
                    ok.insert(addr.clone());
                }
                Err(e) => warn!(broker = %addr, error = %e, "heartbeat failed"),
            }
        }
        ok
    }

    /// Tells each of `addrs` that this client left `group` (a clean
    /// shutdown), so the other members rebalance at once.
    pub(crate) async fn unregister_consumer(&self, group: &GroupName, addrs: &BTreeSet<String>) {
        let req = UnregisterClientRequest {
            client_id: self.client_id().to_string(),
            consumer_group: Some(group.clone()),
            producer_group: None,
        };
        let calls = addrs.iter().map(|addr| {
            let req = &req;
            async move { (addr, self.call_header(addr, req).await) }
        });
        for (addr, r) in futures::future::join_all(calls).await {
            if let Err(e) = r {
                warn!(broker = %addr, %group, error = %e, "unregister failed; the broker drops us when the connection closes");
            }
        }
    }
}
