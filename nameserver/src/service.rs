//! [`NameServer`]: the route tables behind their lock, and the operations
//! the request handlers call.

use std::time::Instant;

use ferromq_protocol::header::{
    ClusterInfo, RegisterBrokerRequest, RegisterBrokerResponse, TopicConfig, TopicList,
    TopicRouteData, UnregisterBrokerRequest,
};
use ferromq_protocol::TopicName;
use parking_lot::RwLock;
use tracing::{debug, info, warn};

use crate::config::NameServerConfig;
use crate::table::RouteTable;

/// One NameServer's state. Serve it with [`NameServer::serve`] (or
/// [`crate::run`]); the methods are also usable in-process, e.g. by a broker
/// embedding a NameServer or by tests inspecting routes.
#[derive(Debug)]
pub struct NameServer {
    pub(crate) config: NameServerConfig,
    /// All tables behind one lock, as in RocketMQ's `RouteInfoManager`: a
    /// registration touches every table at once and a reader must never see
    /// half of it. parking_lot's lock since it is only held for map
    /// operations, never across an `.await`, and reads outnumber writes.
    table: RwLock<RouteTable>,
}

impl NameServer {
    /// An empty NameServer.
    pub fn new(config: NameServerConfig) -> Self {
        let table = RwLock::new(RouteTable::new(config.broker_expiry));
        Self { config, table }
    }

    /// Registers a broker or refreshes its heartbeat; `topics` are the
    /// request's body (see `docs/NAMESERVER.md` for what a master's topic
    /// list does).
    pub fn register_broker(
        &self,
        req: RegisterBrokerRequest,
        topics: Vec<TopicConfig>,
    ) -> RegisterBrokerResponse {
        let (cluster, name, id, addr) = (
            req.cluster.clone(),
            req.broker_name.clone(),
            req.broker_id,
            req.broker_addr.clone(),
        );
        let topic_count = topics.len();
        let done = self.table.write().register(req, topics, Instant::now());
        // Logged after the lock is released: a slow log sink must not stall
        // route lookups.
        if let Some(old) = &done.replaced {
            info!(%cluster, broker = %name, id, %addr, old_addr = %old, "broker address replaced");
        }
        if done.first {
            info!(%cluster, broker = %name, id, %addr, topics = topic_count, "broker registered");
        } else {
            debug!(broker = %name, id, %addr, topics = topic_count, "broker heartbeat");
        }
        done.response
    }

    /// Removes a broker address if it is still registered under that name
    /// and id. Returns whether it was.
    pub fn unregister_broker(&self, req: &UnregisterBrokerRequest) -> bool {
        let removed =
            self.table
                .write()
                .unregister(&req.broker_name, req.broker_id, &req.broker_addr);
        if removed {
            info!(broker = %req.broker_name, id = req.broker_id, addr = %req.broker_addr, "broker unregistered");
        } else {
            debug!(broker = %req.broker_name, id = req.broker_id, addr = %req.broker_addr, "unregister of an unknown broker ignored");
        }
        removed
    }

    /// Removes brokers silent for longer than their timeout at `now`, as if
    /// they had unregistered. Returns the removed addresses. The background
    /// scan calls this with the current time.
    pub fn expire_silent_brokers(&self, now: Instant) -> Vec<String> {
        let expired = self.table.write().expire(now);
        for e in &expired {
            warn!(broker = %e.broker_name, id = e.broker_id, addr = %e.addr, "broker expired: no heartbeat within its timeout");
        }
        expired.into_iter().map(|e| e.addr).collect()
    }

    /// The route of `topic`, or `None` if no broker has it.
    pub fn route(&self, topic: &TopicName) -> Option<TopicRouteData> {
        self.table.read().route(topic)
    }

    /// Clusters, broker names and live brokers.
    pub fn cluster_info(&self) -> ClusterInfo {
        self.table.read().cluster_info(Instant::now())
    }

    /// Every topic with a route, sorted (the body of the `GetAllTopicList`
    /// reply).
    pub fn topic_list(&self) -> TopicList {
        self.table.read().topic_list()
    }

    /// Removes `topic`'s route. Returns whether it existed.
    pub fn delete_topic(&self, topic: &TopicName) -> bool {
        let existed = self.table.write().delete_topic(topic);
        info!(%topic, existed, "topic deleted from the route table");
        existed
    }
}
