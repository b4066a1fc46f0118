//! Broker runtime information and write permission of a whole broker.

use serde::{Deserialize, Serialize};

use super::Rpc;
use crate::code::RequestCode;
use crate::names::{BrokerName, ClusterName};

/// The topic a broker registers when it creates topics on first send. A
/// producer that finds no route for a topic sends to the brokers routing
/// this one (as RocketMQ's `TBW102`).
pub const AUTO_CREATE_TOPIC: &str = "TBW102";

/// Queues of a topic created on first send (RocketMQ's `defaultTopicQueueNums`).
pub const AUTO_CREATE_QUEUES: u32 = 4;

/// Ask a broker for its runtime figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GetBrokerRuntimeInfoRequest {}

/// A broker's runtime figures, for `clusterList` and `brokerStatus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrokerRuntimeInfo {
    /// Software version.
    pub version: String,
    /// Cluster.
    pub cluster: ClusterName,
    /// Broker name.
    pub broker_name: BrokerName,
    /// Broker id (0 = master).
    pub broker_id: u64,
    /// Advertised address.
    pub addr: String,
    /// Milliseconds since the broker started.
    pub uptime_ms: u64,
    /// Messages stored per second, over the last 10 s.
    pub put_tps: f64,
    /// Messages served to consumers per second, over the last 10 s.
    pub get_tps: f64,
    /// Messages stored since start.
    pub put_total: u64,
    /// Messages served since start.
    pub get_total: u64,
    /// Lowest commit-log offset still stored.
    pub commit_log_min_offset: u64,
    /// One past the last commit-log byte.
    pub commit_log_max_offset: u64,
    /// Fraction of the store's file system in use (0.0 – 1.0).
    pub disk_usage: f64,
    /// `sync` or `async`.
    pub flush_mode: String,
    /// Topics on the broker.
    pub topics: u32,
    /// Broker-wide permission bits (`PERM_*`): write is wiped for maintenance.
    pub perm: u8,
    /// Whether topics are created on first send.
    pub auto_create_topic: bool,
    /// Whether the store refuses writes after a disk error.
    pub store_poisoned: bool,
    /// Whether the commit log bypasses the page cache (O_DIRECT and the
    /// broker's block cache). Absent from older brokers: false.
    #[serde(default)]
    pub direct_io: bool,
    /// Commit-log blocks that reads found in the block cache.
    #[serde(default)]
    pub log_cache_hits: u64,
    /// Commit-log blocks that reads loaded from disk.
    #[serde(default)]
    pub log_cache_misses: u64,
    /// `master` or `slave`: which appends the store takes.
    #[serde(default)]
    pub role: String,
    /// The replication epoch (raised at every change of master).
    #[serde(default)]
    pub epoch: u32,
    /// `sync` or `async` replication (a master's setting).
    #[serde(default)]
    pub replication: String,
    /// Replicas in sync, the master counted (1 on a slave).
    #[serde(default)]
    pub in_sync_replicas: u32,
    /// Replicas a sync send needs, the master counted.
    #[serde(default)]
    pub min_in_sync_replicas: u32,
    /// Where the broker's HA port listens (slaves of a master connect
    /// there).
    #[serde(default)]
    pub ha_addr: String,
    /// Whether a master is fenced: it takes no sends while an operator
    /// hands its role to a slave.
    #[serde(default)]
    pub fenced: bool,
}

impl Rpc for GetBrokerRuntimeInfoRequest {
    const CODE: RequestCode = RequestCode::GetBrokerRuntimeInfo;
    type Response = BrokerRuntimeInfo;
}

/// Remove (wipe) or restore the write permission of a broker. The broker
/// persists it, applies it to every topic it registers and refuses sends
/// while it is wiped; reads go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WipeWritePermRequest {
    /// The broker name the caller means (checked against the broker's own).
    pub broker_name: BrokerName,
}

/// Restore write permission; see [`WipeWritePermRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddWritePermRequest {
    /// The broker name the caller means.
    pub broker_name: BrokerName,
}

/// Reply to a permission change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritePermResponse {
    /// Topics on the broker whose routes change.
    pub topics: u32,
}

impl Rpc for WipeWritePermRequest {
    const CODE: RequestCode = RequestCode::WipeWritePerm;
    type Response = WritePermResponse;
}

impl Rpc for AddWritePermRequest {
    const CODE: RequestCode = RequestCode::AddWritePerm;
    type Response = WritePermResponse;
}
