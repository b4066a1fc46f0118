//! What the controller replicates: per broker group its replicas, master,
//! epoch and in-sync set, and the commands that change them. Pure: no
//! clock (times come in the commands), no I/O; every node applies the same
//! commands in the same order and ends in the same state.
//!
//! Checks that depend on the state (is the sender the master of this
//! epoch, is the new master in the in-sync set) are made here, when the
//! command is applied, so that two commands racing through the log cannot
//! both pass against a state that only one of them saw. Checks that
//! depend on liveness (is a broker alive) are the leader's, before it
//! proposes a command, since only the leader hears heartbeats.

use std::collections::{BTreeMap, BTreeSet};

use ferromq_protocol::header::{EpochRecord, GroupView, ReplicaAddr};
use ferromq_protocol::{BrokerName, ClusterName, ResponseCode};
use serde::{Deserialize, Serialize};

/// Epoch records kept per group (the oldest are dropped).
const MAX_EPOCH_RECORDS: usize = 256;

/// One replica of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// Address clients use.
    pub addr: String,
    /// HA address.
    pub ha_addr: String,
    /// The identity of the store this id was given to.
    pub store_id: String,
}

/// One broker group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Its cluster.
    pub cluster: ClusterName,
    /// Registered replicas by id.
    pub replicas: BTreeMap<u64, Replica>,
    /// The id the next new replica gets.
    pub next_id: u64,
    /// The master's id.
    pub master: Option<u64>,
    /// The master's epoch; 0 before the first master.
    pub epoch: u32,
    /// Replicas that have every acknowledged message (the master too).
    pub sync_state_set: BTreeSet<u64>,
    /// Raised at every change of [`Self::sync_state_set`].
    pub sync_state_set_epoch: u32,
    /// Past epochs, oldest first.
    pub epochs: Vec<EpochRecord>,
}

impl Group {
    fn new(cluster: ClusterName) -> Self {
        Self {
            cluster,
            replicas: BTreeMap::new(),
            next_id: 1,
            master: None,
            epoch: 0,
            sync_state_set: BTreeSet::new(),
            sync_state_set_epoch: 0,
            epochs: Vec::new(),
        }
    }

    /// The group as brokers see it.
    pub fn view(&self) -> GroupView {
        GroupView {
            master: self.master.and_then(|id| self.addr_of(id)),
            epoch: self.epoch,
            sync_state_set: self.sync_state_set.iter().copied().collect(),
            sync_state_set_epoch: self.sync_state_set_epoch,
        }
    }

    /// Id and addresses of a replica.
    pub fn addr_of(&self, id: u64) -> Option<ReplicaAddr> {
        self.replicas.get(&id).map(|r| ReplicaAddr {
            replica_id: id,
            addr: r.addr.clone(),
            ha_addr: r.ha_addr.clone(),
        })
    }

    fn begin_epoch(&mut self, master: u64, at_ms: u64, reason: ElectReason) {
        self.master = Some(master);
        self.epoch += 1;
        self.epochs.push(EpochRecord {
            epoch: self.epoch,
            master_id: master,
            elected_at_ms: at_ms,
            reason: reason.as_str().to_string(),
        });
        if self.epochs.len() > MAX_EPOCH_RECORDS {
            self.epochs.remove(0);
        }
    }

    fn set_sync_state_set(&mut self, set: BTreeSet<u64>) {
        self.sync_state_set = set;
        self.sync_state_set_epoch += 1;
    }
}

/// Why a master was elected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectReason {
    /// The group's first broker.
    FirstMaster,
    /// The master stopped heartbeating.
    MasterSilent,
    /// An operator asked (`electMaster`).
    Admin,
    /// No in-sync replica was alive and unclean elections are enabled.
    Unclean,
}

impl ElectReason {
    /// As shown by `getBrokerEpoch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstMaster => "first master",
            Self::MasterSilent => "master silent",
            Self::Admin => "admin",
            Self::Unclean => "unclean",
        }
    }
}

/// A change to the controller's state: the Raft log's entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A broker joins its group (or comes back to it).
    Register {
        /// Its cluster.
        cluster: ClusterName,
        /// Its group.
        broker_name: BrokerName,
        /// The id it claims; 0 for a new one.
        replica_id: u64,
        /// Its store's identity.
        store_id: String,
        /// Client address.
        addr: String,
        /// HA address.
        ha_addr: String,
        /// The last epoch in the broker's store: a first master begins
        /// above it (a group that ran without a controller before).
        epoch: u32,
        /// The leader's clock, for the epoch record of a first master.
        now_ms: u64,
    },
    /// A new master for a group.
    Elect {
        /// The group.
        broker_name: BrokerName,
        /// The epoch the leader decided on; refused if the group moved on.
        expected_epoch: u32,
        /// The new master.
        new_master: u64,
        /// Why.
        reason: ElectReason,
        /// The leader's clock.
        now_ms: u64,
    },
    /// A master changes its in-sync set.
    AlterSyncStateSet {
        /// The group.
        broker_name: BrokerName,
        /// The sender.
        master_id: u64,
        /// The sender's epoch.
        master_epoch: u32,
        /// The set's epoch the sender changes.
        sync_state_set_epoch: u32,
        /// The new set.
        sync_state_set: BTreeSet<u64>,
    },
    /// Forget replicas (or a whole group when `replica_ids` is empty).
    Clean {
        /// The group.
        broker_name: BrokerName,
        /// The replicas.
        replica_ids: Vec<u64>,
    },
}

/// What applying a command gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Done: the replica the command was about and its group now.
    Done {
        /// The registered or elected replica (0 when none).
        replica_id: u64,
        /// The group after the command (default after a whole-group clean).
        group: GroupView,
    },
    /// Refused; nothing changed.
    Refused {
        /// The response code to answer with.
        code: u16,
        /// Why.
        message: String,
    },
}

impl Outcome {
    /// The outcome of an entry that is not a command.
    pub fn none() -> Self {
        Self::Done {
            replica_id: 0,
            group: GroupView::default(),
        }
    }

    fn refused(code: ResponseCode, message: impl Into<String>) -> Self {
        Self::Refused {
            code: code.as_u16(),
            message: message.into(),
        }
    }
}

fn no_group(name: &BrokerName) -> Outcome {
    Outcome::refused(
        ResponseCode::ControllerBrokerMetadataNotExist,
        format!("no broker group {name}"),
    )
}

/// Every group, by broker name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerState {
    /// The groups.
    pub groups: BTreeMap<BrokerName, Group>,
}

impl ControllerState {
    /// Applies one command.
    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::Register {
                cluster,
                broker_name,
                replica_id,
                store_id,
                addr,
                ha_addr,
                epoch,
                now_ms,
            } => self.register(
                cluster,
                broker_name,
                *replica_id,
                Replica {
                    addr: addr.clone(),
                    ha_addr: ha_addr.clone(),
                    store_id: store_id.clone(),
                },
                *epoch,
                *now_ms,
            ),
            Command::Elect {
                broker_name,
                expected_epoch,
                new_master,
                reason,
                now_ms,
            } => self.elect(broker_name, *expected_epoch, *new_master, *reason, *now_ms),
            Command::AlterSyncStateSet {
                broker_name,
                master_id,
                master_epoch,
                sync_state_set_epoch,
                sync_state_set,
            } => self.alter(
                broker_name,
                *master_id,
                *master_epoch,
                *sync_state_set_epoch,
                sync_state_set,
            ),
            Command::Clean {
                broker_name,
                replica_ids,
            } => self.clean(broker_name, replica_ids),
        }
    }

    fn register(
        &mut self,
        cluster: &ClusterName,
        name: &BrokerName,
        claimed: u64,
        replica: Replica,
        store_epoch: u32,
        now_ms: u64,
    ) -> Outcome {
        let group = self
            .groups
            .entry(name.clone())
            .or_insert_with(|| Group::new(cluster.clone()));
        if group.cluster != *cluster {
            return Outcome::refused(
                ResponseCode::ControllerInvalidRequest,
                format!(
                    "broker group {name} belongs to cluster {}, not {cluster}",
                    group.cluster
                ),
            );
        }
        let same_store = group
            .replicas
            .iter()
            .find(|(_, r)| r.store_id == replica.store_id)
            .map(|(id, _)| *id);
        let id = match (claimed, same_store) {
            (0, Some(id)) => id,
            (0, None) => {
                let id = group.next_id;
                group.next_id += 1;
                id
            }
            (id, Some(mine)) if id == mine => id,
            (id, _) => {
                return Outcome::refused(
                    ResponseCode::ControllerBrokerIdInvalid,
                    format!(
                        "broker {name} id {id} was not given to this store; \
                         a new broker registers with id 0"
                    ),
                )
            }
        };
        group.replicas.insert(id, replica);
        if group.master.is_none() && group.epoch == 0 {
            // Its store may hold epochs of manual promotions: the first
            // controller epoch comes after them.
            group.epoch = store_epoch;
            group.begin_epoch(id, now_ms, ElectReason::FirstMaster);
            group.set_sync_state_set(BTreeSet::from([id]));
        }
        Outcome::Done {
            replica_id: id,
            group: group.view(),
        }
    }

    fn elect(
        &mut self,
        name: &BrokerName,
        expected_epoch: u32,
        new_master: u64,
        reason: ElectReason,
        now_ms: u64,
    ) -> Outcome {
        let Some(group) = self.groups.get_mut(name) else {
            return no_group(name);
        };
        if group.epoch != expected_epoch {
            return Outcome::refused(
                ResponseCode::ControllerFencedMasterEpoch,
                format!("{name} is at epoch {}, not {expected_epoch}", group.epoch),
            );
        }
        if !group.replicas.contains_key(&new_master) {
            return Outcome::refused(
                ResponseCode::ControllerBrokerMetadataNotExist,
                format!("{name} has no replica {new_master}"),
            );
        }
        let in_sync = group.sync_state_set.contains(&new_master);
        // Whether unclean elections are enabled is the leader's to check
        // before it proposes one: configuration may differ between nodes,
        // and applying must not.
        let unclean = reason == ElectReason::Unclean;
        if !in_sync && !unclean {
            return Outcome::refused(
                ResponseCode::ControllerElectMasterFailed,
                format!("{name} replica {new_master} is not in the in-sync set"),
            );
        }
        let old = group.master;
        group.begin_epoch(new_master, now_ms, reason);
        // Every other member of the set has every acknowledged message
        // (a send waits for all of them), so they stay; the old master
        // rejoins once it has truncated and caught up.
        let mut set = if unclean {
            BTreeSet::new()
        } else {
            group.sync_state_set.clone()
        };
        if let Some(old) = old.filter(|o| *o != new_master) {
            set.remove(&old);
        }
        set.insert(new_master);
        group.set_sync_state_set(set);
        Outcome::Done {
            replica_id: new_master,
            group: group.view(),
        }
    }

    fn alter(
        &mut self,
        name: &BrokerName,
        master_id: u64,
        master_epoch: u32,
        set_epoch: u32,
        set: &BTreeSet<u64>,
    ) -> Outcome {
        let Some(group) = self.groups.get_mut(name) else {
            return no_group(name);
        };
        if group.master != Some(master_id) {
            return Outcome::refused(
                ResponseCode::ControllerInvalidMaster,
                format!("{name} replica {master_id} is not the master"),
            );
        }
        if group.epoch != master_epoch {
            return Outcome::refused(
                ResponseCode::ControllerFencedMasterEpoch,
                format!("{name} is at epoch {}, not {master_epoch}", group.epoch),
            );
        }
        if group.sync_state_set_epoch != set_epoch {
            return Outcome::refused(
                ResponseCode::ControllerFencedSyncStateSetEpoch,
                format!(
                    "{name}'s in-sync set is at epoch {}, not {set_epoch}",
                    group.sync_state_set_epoch
                ),
            );
        }
        if !set.contains(&master_id) {
            return Outcome::refused(
                ResponseCode::ControllerInvalidReplicas,
                "the in-sync set must hold the master",
            );
        }
        if let Some(unknown) = set.iter().find(|id| !group.replicas.contains_key(id)) {
            return Outcome::refused(
                ResponseCode::ControllerInvalidReplicas,
                format!("{name} has no replica {unknown}"),
            );
        }
        if group.sync_state_set != *set {
            group.set_sync_state_set(set.clone());
        }
        Outcome::Done {
            replica_id: master_id,
            group: group.view(),
        }
    }

    fn clean(&mut self, name: &BrokerName, ids: &[u64]) -> Outcome {
        let Some(group) = self.groups.get_mut(name) else {
            return no_group(name);
        };
        if ids.is_empty() {
            self.groups.remove(name);
            return Outcome::Done {
                replica_id: 0,
                group: GroupView::default(),
            };
        }
        if let Some(m) = group.master.filter(|m| ids.contains(m)) {
            return Outcome::refused(
                ResponseCode::ControllerInvalidCleanBrokerMetadata,
                format!("{name} replica {m} is the master; elect another first"),
            );
        }
        if let Some(unknown) = ids.iter().find(|id| !group.replicas.contains_key(id)) {
            return Outcome::refused(
                ResponseCode::ControllerBrokerMetadataNotExist,
                format!("{name} has no replica {unknown}"),
            );
        }
        for id in ids {
            group.replicas.remove(id);
        }
        if ids.iter().any(|id| group.sync_state_set.contains(id)) {
            let set = group
                .sync_state_set
                .iter()
                .copied()
                .filter(|id| !ids.contains(id))
                .collect();
            group.set_sync_state_set(set);
        }
        Outcome::Done {
            replica_id: 0,
            group: group.view(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> BrokerName {
        BrokerName::new("broker-a").unwrap_or_else(|e| panic!("{e}"))
    }

    fn cluster() -> ClusterName {
        ClusterName::new("DefaultCluster").unwrap_or_else(|e| panic!("{e}"))
    }

    fn register(s: &mut ControllerState, id: u64, store: &str) -> Outcome {
        s.apply(&Command::Register {
            cluster: cluster(),
            broker_name: name(),
            replica_id: id,
            store_id: store.into(),
            addr: format!("{store}:10911"),
            ha_addr: format!("{store}:10912"),
            epoch: 0,
            now_ms: 1,
        })
    }

    fn done(o: Outcome) -> (u64, GroupView) {
        match o {
            Outcome::Done { replica_id, group } => (replica_id, group),
            Outcome::Refused { code, message } => panic!("refused {code}: {message}"),
        }
    }

    fn refused(o: Outcome) -> ResponseCode {
        match o {
            Outcome::Refused { code, .. } => {
                ResponseCode::from_u16(code).unwrap_or(ResponseCode::SystemError)
            }
            Outcome::Done { .. } => panic!("not refused"),
        }
    }

    fn group_of_three() -> ControllerState {
        let mut s = ControllerState::default();
        for store in ["a", "b", "c"] {
            done(register(&mut s, 0, store));
        }
        done(s.apply(&Command::AlterSyncStateSet {
            broker_name: name(),
            master_id: 1,
            master_epoch: 1,
            sync_state_set_epoch: 1,
            sync_state_set: BTreeSet::from([1, 2, 3]),
        }));
        s
    }

    #[test]
    fn first_broker_becomes_master_and_ids_are_stable_per_store() {
        let mut s = ControllerState::default();
        let (a, g) = done(register(&mut s, 0, "a"));
        assert_eq!(a, 1);
        assert_eq!(g.master.as_ref().map(|m| m.replica_id), Some(1));
        assert_eq!((g.epoch, g.sync_state_set.clone()), (1, vec![1]));
        let (b, g) = done(register(&mut s, 0, "b"));
        assert_eq!(b, 2);
        assert_eq!(g.master.map(|m| m.replica_id), Some(1), "still a's");
        // A retried registration of the same store gets the same id.
        assert_eq!(done(register(&mut s, 0, "b")).0, 2);
        assert_eq!(done(register(&mut s, 2, "b")).0, 2);
        // Another store cannot take b's id.
        assert_eq!(
            refused(register(&mut s, 2, "intruder")),
            ResponseCode::ControllerBrokerIdInvalid
        );
        assert_eq!(s.groups[&name()].replicas.len(), 2);
    }

    #[test]
    fn a_first_master_begins_above_the_epochs_of_its_store() {
        let mut s = ControllerState::default();
        let cmd = |store: &str| Command::Register {
            cluster: cluster(),
            broker_name: name(),
            replica_id: 0,
            store_id: store.into(),
            addr: "a:1".into(),
            ha_addr: "a:2".into(),
            epoch: 3,
            now_ms: 1,
        };
        let (_, g) = done(s.apply(&cmd("a")));
        assert_eq!(g.epoch, 4);
        let (_, g) = done(s.apply(&cmd("b")));
        assert_eq!(g.epoch, 4, "only the first master's store counts");
    }

    #[test]
    fn election_takes_only_in_sync_replicas_and_bumps_the_epoch() {
        let mut s = ControllerState::default();
        for store in ["a", "b", "c"] {
            done(register(&mut s, 0, store));
        }
        // Set {1, 2}: 3 is behind.
        done(s.apply(&Command::AlterSyncStateSet {
            broker_name: name(),
            master_id: 1,
            master_epoch: 1,
            sync_state_set_epoch: 1,
            sync_state_set: BTreeSet::from([1, 2]),
        }));
        let elect = |id, reason| Command::Elect {
            broker_name: name(),
            expected_epoch: 1,
            new_master: id,
            reason,
            now_ms: 5,
        };
        let before = s.clone();
        assert_eq!(
            refused(s.apply(&elect(3, ElectReason::MasterSilent))),
            ResponseCode::ControllerElectMasterFailed
        );
        assert_eq!(s, before, "refusals change nothing");
        let (id, g) = done(s.apply(&elect(2, ElectReason::MasterSilent)));
        assert_eq!(id, 2);
        assert_eq!(g.epoch, 2);
        assert_eq!(g.sync_state_set, vec![2], "the old master left the set");
        // The same decision again (a retried proposal) is stale now.
        assert_eq!(
            refused(s.apply(&elect(2, ElectReason::MasterSilent))),
            ResponseCode::ControllerFencedMasterEpoch
        );
        let records = &s.groups[&name()].epochs;
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].reason, "master silent");
    }

    #[test]
    fn unclean_election_restarts_the_set() {
        let mut s = group_of_three();
        let g = s.groups[&name()].clone();
        assert_eq!(g.sync_state_set, BTreeSet::from([1, 2, 3]));
        // Shrink to {1}, then elect 3 uncleanly.
        done(s.apply(&Command::AlterSyncStateSet {
            broker_name: name(),
            master_id: 1,
            master_epoch: 1,
            sync_state_set_epoch: g.sync_state_set_epoch,
            sync_state_set: BTreeSet::from([1]),
        }));
        let cmd = Command::Elect {
            broker_name: name(),
            expected_epoch: 1,
            new_master: 3,
            reason: ElectReason::Unclean,
            now_ms: 9,
        };
        let (_, g) = done(s.apply(&cmd));
        assert_eq!((g.epoch, g.sync_state_set), (2, vec![3]));
    }

    #[test]
    fn only_the_master_of_the_current_epoch_alters_the_set() {
        let mut s = group_of_three();
        let g = s.groups[&name()].clone();
        let alter = |master_id, master_epoch, set_epoch, set: &[u64]| Command::AlterSyncStateSet {
            broker_name: name(),
            master_id,
            master_epoch,
            sync_state_set_epoch: set_epoch,
            sync_state_set: set.iter().copied().collect(),
        };
        let e = g.sync_state_set_epoch;
        let before = s.clone();
        assert_eq!(
            refused(s.apply(&alter(2, 1, e, &[2]))),
            ResponseCode::ControllerInvalidMaster
        );
        assert_eq!(
            refused(s.apply(&alter(1, 0, e, &[1]))),
            ResponseCode::ControllerFencedMasterEpoch
        );
        assert_eq!(
            refused(s.apply(&alter(1, 1, e - 1, &[1]))),
            ResponseCode::ControllerFencedSyncStateSetEpoch
        );
        assert_eq!(
            refused(s.apply(&alter(1, 1, e, &[2, 3]))),
            ResponseCode::ControllerInvalidReplicas
        );
        assert_eq!(
            refused(s.apply(&alter(1, 1, e, &[1, 7]))),
            ResponseCode::ControllerInvalidReplicas
        );
        assert_eq!(s, before);
        let (_, v) = done(s.apply(&alter(1, 1, e, &[1, 3])));
        assert_eq!(v.sync_state_set, vec![1, 3]);
        assert_eq!(v.sync_state_set_epoch, e + 1);
    }

    #[test]
    fn clean_refuses_the_master_and_drops_replicas_from_the_set() {
        let mut s = group_of_three();
        assert_eq!(
            refused(s.apply(&Command::Clean {
                broker_name: name(),
                replica_ids: vec![1],
            },)),
            ResponseCode::ControllerInvalidCleanBrokerMetadata
        );
        let (_, g) = done(s.apply(&Command::Clean {
            broker_name: name(),
            replica_ids: vec![3],
        }));
        assert_eq!(g.sync_state_set, vec![1, 2]);
        assert!(!s.groups[&name()].replicas.contains_key(&3));
        // The id is not given out again.
        assert_eq!(done(register(&mut s, 0, "d")).0, 4);
    }
}
