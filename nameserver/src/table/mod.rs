//! The route tables, as RocketMQ's `RouteInfoManager` keeps them, without a
//! lock or a clock: every method that depends on time takes `now`, so expiry
//! is tested with made-up instants instead of sleeps. The caller
//! ([`crate::NameServer`]) holds the lock and does the logging.
//!
//! Invariants kept by every method (checked in tests):
//! * an address is in `live` exactly when it is in its broker name's `addrs`
//!   under the same id;
//! * every broker name in `brokers` has at least one address and is in its
//!   cluster's set, and every cluster set is non-empty;
//! * every topic has queue data for at least one broker name.

mod query;
mod register;
mod remove;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferromq_protocol::header::{BrokerData, QueueData};
use ferromq_protocol::{BrokerName, ClusterName, TopicName};

/// A registered broker address and what its heartbeats told us.
#[derive(Clone, Debug)]
struct LiveEntry {
    last_heartbeat: Instant,
    /// First registration under the current identity; kept across heartbeats
    /// so `clusterList` can show uptime.
    registered_at: Instant,
    version: String,
    broker_name: BrokerName,
    broker_id: u64,
    /// Silence after which the address expires.
    timeout: Duration,
}

/// Every route table of one NameServer. BTreeMaps so that lists and routes
/// come out sorted without a separate sort step.
#[derive(Debug)]
pub(crate) struct RouteTable {
    /// Expiry for registrations that do not name their own.
    default_expiry: Duration,
    /// Topic → broker name → that broker's queues of the topic.
    topics: BTreeMap<TopicName, BTreeMap<BrokerName, QueueData>>,
    /// Broker name → cluster and `{broker id → address}`.
    brokers: BTreeMap<BrokerName, BrokerData>,
    /// Cluster → broker names.
    clusters: BTreeMap<ClusterName, BTreeSet<BrokerName>>,
    /// Broker address → liveness.
    live: BTreeMap<String, LiveEntry>,
}

impl RouteTable {
    /// An empty table; brokers that do not ask for their own heartbeat
    /// timeout expire after `default_expiry` of silence.
    pub(crate) fn new(default_expiry: Duration) -> Self {
        Self {
            default_expiry,
            topics: BTreeMap::new(),
            brokers: BTreeMap::new(),
            clusters: BTreeMap::new(),
            live: BTreeMap::new(),
        }
    }
}
