//! The controller: a small Raft group that keeps, per broker group, its
//! replicas, its master, its epoch and its in-sync set (RocketMQ 5's
//! controller mode), and elects a new master from the in-sync set when the
//! master goes silent.
//!
//! Brokers in controller mode send [`ControllerRegisterBroker`] once, then
//! [`BrokerHeartbeat`] about twice a second; every answer is the group as
//! the controller has it ([`GroupView`]), which is how a broker learns that
//! it was elected or that another replica was. A master asks for changes
//! of its in-sync set with [`AlterSyncStateSet`]. Only the Raft leader
//! answers; the others say [`crate::ResponseCode::ControllerNotLeader`].
//!
//! The Raft messages between controllers travel as opaque bodies
//! ([`RaftVoteRequest`], [`RaftAppendEntriesRequest`],
//! [`RaftInstallSnapshotRequest`]): their format is the Raft library's
//! (postcard-encoded), the framing ours.

use serde::{Deserialize, Serialize};

use super::{Empty, Rpc};
use crate::code::RequestCode;
use crate::names::{BrokerName, ClusterName};

/// A replica as the controller knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaAddr {
    /// Its id in the group (1 or more), assigned by the controller.
    pub replica_id: u64,
    /// The address clients use.
    pub addr: String,
    /// Its HA address, where its slaves connect when it is master.
    pub ha_addr: String,
}

/// A broker group as the controller has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The master, if the group has one.
    pub master: Option<ReplicaAddr>,
    /// The master's epoch (0 before the first master).
    pub epoch: u32,
    /// The replica ids in the in-sync set, the master among them.
    pub sync_state_set: Vec<u64>,
    /// Raised by one at every change of the in-sync set.
    pub sync_state_set_epoch: u32,
}

/// Broker to controller: join a group. A broker with a store of its own
/// sends its id and its store's identity; a new one sends id 0 and gets
/// one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRegisterBroker {
    /// The broker's cluster.
    pub cluster: ClusterName,
    /// The broker's group.
    pub broker_name: BrokerName,
    /// The id the controller gave this broker earlier; 0: a new one.
    pub replica_id: u64,
    /// A random identity of the broker's store, made when the store was
    /// created: an id is only given back to the store it was given to.
    pub store_id: String,
    /// The address clients use.
    pub addr: String,
    /// The HA address.
    pub ha_addr: String,
    /// The broker's last epoch.
    pub epoch: u32,
    /// One past its last commit-log byte.
    pub log_end: u64,
}

/// The controller's answer: the broker's id and its group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRegisterBrokerResponse {
    /// The broker's id in its group (1 or more), to keep with its store.
    pub replica_id: u64,
    /// The group.
    pub group: GroupView,
}

impl Rpc for ControllerRegisterBroker {
    const CODE: RequestCode = RequestCode::ControllerRegisterBroker;
    type Response = ControllerRegisterBrokerResponse;
}

/// Broker to controller: alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHeartbeat {
    /// The broker's cluster.
    pub cluster: ClusterName,
    /// The broker's group.
    pub broker_name: BrokerName,
    /// Its id, from its registration.
    pub replica_id: u64,
    /// Its store's identity, as registered.
    pub store_id: String,
    /// Its last epoch.
    pub epoch: u32,
    /// One past its last commit-log byte.
    pub log_end: u64,
}

impl Rpc for BrokerHeartbeat {
    const CODE: RequestCode = RequestCode::BrokerHeartbeat;
    type Response = GroupView;
}

/// Master to controller: the in-sync set is now `sync_state_set` (RocketMQ
/// `AlterSyncStateSet`). Refused unless the sender is the group's master
/// of `master_epoch` and the set it changes is the one of
/// `sync_state_set_epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlterSyncStateSet {
    /// The group.
    pub broker_name: BrokerName,
    /// The sender's id.
    pub master_id: u64,
    /// The sender's epoch as master.
    pub master_epoch: u32,
    /// The epoch of the set the sender changes.
    pub sync_state_set_epoch: u32,
    /// The new set; must hold the master.
    pub sync_state_set: Vec<u64>,
}

impl Rpc for AlterSyncStateSet {
    const CODE: RequestCode = RequestCode::ControllerAlterSyncStateSet;
    type Response = GroupView;
}

/// Admin to controller: make `replica_id` the master of `broker_name`
/// (`mqadmin electMaster`). Only a live replica of the in-sync set can be
/// made master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectMasterRequest {
    /// The group.
    pub broker_name: BrokerName,
    /// The replica to make master.
    pub replica_id: u64,
}

impl Rpc for ElectMasterRequest {
    const CODE: RequestCode = RequestCode::ControllerElectMaster;
    type Response = GroupView;
}

/// Admin to controller: the controller group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetControllerMetadataRequest {}

/// One controller node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerNode {
    /// Its Raft id.
    pub id: u64,
    /// Its address.
    pub addr: String,
}

/// The controller group as the answering node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerMetadata {
    /// The answering node's id.
    pub node_id: u64,
    /// Every voting node.
    pub nodes: Vec<ControllerNode>,
    /// The Raft leader, if one is known.
    pub leader_id: Option<u64>,
    /// The leader's address.
    pub leader_addr: Option<String>,
    /// The answering node's Raft term.
    pub term: u64,
    /// The index of the last log entry applied on the answering node.
    pub last_applied: u64,
}

impl Rpc for GetControllerMetadataRequest {
    const CODE: RequestCode = RequestCode::ControllerGetMetadataInfo;
    type Response = ControllerMetadata;
}

/// Admin to controller: one group in detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetSyncStateDataRequest {
    /// The group.
    pub broker_name: BrokerName,
}

/// A replica in detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaState {
    /// Id and addresses.
    pub replica: ReplicaAddr,
    /// Heard from within the heartbeat timeout (as the leader sees it).
    pub alive: bool,
    /// Its epoch, from its last heartbeat.
    pub epoch: u32,
    /// Its log end, from its last heartbeat.
    pub log_end: u64,
    /// Milliseconds since its last heartbeat reached the leader; `None`
    /// before the first since the leader took over.
    pub last_heartbeat_ms: Option<u64>,
}

/// A group in detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStateData {
    /// The group's cluster.
    pub cluster: ClusterName,
    /// The group.
    pub broker_name: BrokerName,
    /// Master, epoch and in-sync set.
    pub group: GroupView,
    /// Every registered replica.
    pub replicas: Vec<ReplicaState>,
}

impl Rpc for GetSyncStateDataRequest {
    const CODE: RequestCode = RequestCode::ControllerGetSyncStateData;
    type Response = SyncStateData;
}

/// Admin to controller: a group's epochs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBrokerEpochRequest {
    /// The group.
    pub broker_name: BrokerName,
}

/// One epoch of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch.
    pub epoch: u32,
    /// Its master.
    pub master_id: u64,
    /// When it was elected (milliseconds since the Unix epoch, leader's
    /// clock).
    pub elected_at_ms: u64,
    /// Why: `first master`, `master silent`, `admin`, `unclean`.
    pub reason: String,
}

/// The answer: oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEpochs {
    /// The group's epochs.
    pub epochs: Vec<EpochRecord>,
}

impl Rpc for GetBrokerEpochRequest {
    const CODE: RequestCode = RequestCode::GetBrokerEpochCache;
    type Response = BrokerEpochs;
}

/// Admin to controller: forget replicas that were retired. Refused for the
/// master and for a replica that is alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanBrokerDataRequest {
    /// The group.
    pub broker_name: BrokerName,
    /// The replicas to forget; empty: the whole group, which must have no
    /// live replica.
    pub replica_ids: Vec<u64>,
}

impl Rpc for CleanBrokerDataRequest {
    const CODE: RequestCode = RequestCode::CleanBrokerData;
    type Response = Empty;
}

/// Controller to controller: a vote request; the body is the Raft
/// library's request, the answer's body its response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftVoteRequest {}

/// Controller to controller: log entries; the body is the Raft library's
/// request, the answer's body its response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftAppendEntriesRequest {}

/// Controller to controller: a whole snapshot; the body is the Raft
/// library's vote and snapshot, the answer's body its response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftInstallSnapshotRequest {}

impl Rpc for RaftVoteRequest {
    const CODE: RequestCode = RequestCode::RaftVote;
    type Response = Empty;
}

impl Rpc for RaftAppendEntriesRequest {
    const CODE: RequestCode = RequestCode::RaftAppendEntries;
    type Response = Empty;
}

impl Rpc for RaftInstallSnapshotRequest {
    const CODE: RequestCode = RequestCode::RaftInstallSnapshot;
    type Response = Empty;
}
