//! One controller node: its Raft instance, the state it applies, and what
//! only the leader keeps: when each broker last heartbeated. Heartbeats
//! are not written to the Raft log (they come twice a second per broker);
//! a new leader starts with an empty table and gives every master a full
//! timeout before it counts it as silent.
//!
//! The leader answers a heartbeat only after a quorum has confirmed it is
//! still the leader, so a deposed leader cannot extend a master's lease
//! after another node has taken over.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferromq_protocol::header::{
    AlterSyncStateSet, BrokerEpochs, BrokerHeartbeat, ControllerMetadata, ControllerNode,
    ControllerRegisterBroker, ControllerRegisterBrokerResponse, GroupView, ReplicaState,
    SyncStateData,
};
use ferromq_protocol::{BrokerName, ResponseCode};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ServerState};
use parking_lot::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{ControllerConfig, NodeSetup};
use crate::raft::log_store::LogStore;
use crate::raft::network::NetworkFactory;
use crate::raft::state_machine::{Applied, StateMachine};
use crate::raft::types::Raft;
use crate::state::{Command, ElectReason, Group, Outcome};

/// Longest address accepted from a broker.
const MAX_ADDR_LEN: usize = 255;
/// Longest store identity accepted.
const MAX_STORE_ID_LEN: usize = 128;

/// A request the controller refuses, with the code to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The response code.
    pub code: ResponseCode,
    /// Why.
    pub message: String,
}

impl Refusal {
    fn new(code: ResponseCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A broker's last heartbeat, as the leader saw it.
#[derive(Clone, Copy, Debug)]
struct Beat {
    at: Instant,
    epoch: u32,
    log_end: u64,
}

#[derive(Default)]
struct Liveness {
    /// When this node last became leader; `None` while it is not.
    leader_since: Option<Instant>,
    beats: HashMap<(BrokerName, u64), Beat>,
    /// Groups the leader already warned about (no replica to elect), by
    /// the epoch it warned at.
    warned: HashMap<BrokerName, u32>,
    /// Replicas that claimed an epoch their group never had (warned once).
    distrusted: std::collections::HashSet<(BrokerName, u64)>,
}

/// One controller node.
pub struct Controller {
    id: u64,
    peers: BTreeMap<u64, String>,
    config: ControllerConfig,
    raft: Raft,
    applied: Arc<RwLock<Applied>>,
    live: Mutex<Liveness>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Controller {
    /// Opens the node's log and state in the configured directory and
    /// starts Raft. A node that has never been part of a group proposes
    /// the configured peers as the group; the library ignores that when a
    /// group exists.
    ///
    /// # Errors
    /// Storage that cannot be opened, or Raft that cannot start.
    pub async fn start(config: ControllerConfig, setup: &NodeSetup) -> anyhow::Result<Arc<Self>> {
        let log = LogStore::open(&config.controller_dir)?;
        let sm = StateMachine::open(&config.controller_dir)?;
        let applied = sm.applied();
        let raft_config = openraft::Config {
            cluster_name: "ferromq-controller".into(),
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()?;
        let raft = Raft::new(setup.id, Arc::new(raft_config), NetworkFactory, log, sm).await?;
        if !raft.is_initialized().await? {
            let members: BTreeMap<u64, BasicNode> = setup
                .peers
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) => info!(nodes = setup.peers.len(), "controller group initialized"),
                Err(e) => info!(error = %e, "controller group not initialized here"),
            }
        }
        Ok(Arc::new(Self {
            id: setup.id,
            peers: setup.peers.clone(),
            config,
            raft,
            applied,
            live: Mutex::default(),
        }))
    }

    /// The node's Raft handle.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Stops Raft.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "Raft did not stop cleanly");
        }
    }

    fn not_leader(&self, leader: Option<u64>) -> Refusal {
        let addr = leader.and_then(|l| self.peers.get(&l).cloned());
        Refusal::new(
            ResponseCode::ControllerNotLeader,
            match (leader, addr) {
                (Some(l), Some(a)) => {
                    format!("controller {} is not the leader; {l} at {a} is", self.id)
                }
                _ => format!("controller {} is not the leader; no leader known", self.id),
            },
        )
    }

    /// Confirms with a quorum that this node leads.
    async fn ensure_leader(&self) -> Result<(), Refusal> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(self.not_leader(f.leader_id))
            }
            Err(e) => Err(Refusal::new(
                ResponseCode::ControllerNotLeader,
                e.to_string(),
            )),
        }
    }

    /// Puts a command through the log and applies it.
    async fn propose(&self, cmd: Command) -> Result<(u64, GroupView), Refusal> {
        match self.raft.client_write(cmd).await {
            Ok(r) => match r.data {
                Outcome::Done { replica_id, group } => Ok((replica_id, group)),
                Outcome::Refused { code, message } => Err(Refusal::new(
                    ResponseCode::from_u16(code).unwrap_or(ResponseCode::SystemError),
                    message,
                )),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(self.not_leader(f.leader_id))
            }
            Err(e) => Err(Refusal::new(ResponseCode::SystemError, e.to_string())),
        }
    }

    fn group(&self, name: &BrokerName) -> Result<Group, Refusal> {
        self.applied
            .read()
            .state
            .groups
            .get(name)
            .cloned()
            .ok_or_else(|| {
                Refusal::new(
                    ResponseCode::ControllerBrokerMetadataNotExist,
                    format!("no broker group {name}"),
                )
            })
    }

    fn beat(&self, name: &BrokerName, id: u64, epoch: u32, log_end: u64) {
        self.live.lock().beats.insert(
            (name.clone(), id),
            Beat {
                at: Instant::now(),
                epoch,
                log_end,
            },
        );
    }

    fn alive(&self, name: &BrokerName, id: u64, now: Instant) -> Option<Beat> {
        self.live
            .lock()
            .beats
            .get(&(name.clone(), id))
            .copied()
            .filter(|b| now.duration_since(b.at) < self.config.heartbeat_timeout)
    }

    /// A broker joins its group.
    ///
    /// # Errors
    /// A bad address, an id the broker's store was not given, not the
    /// leader.
    pub async fn register(
        &self,
        r: ControllerRegisterBroker,
    ) -> Result<ControllerRegisterBrokerResponse, Refusal> {
        for (what, a) in [("addr", &r.addr), ("ha_addr", &r.ha_addr)] {
            if a.is_empty() || a.len() > MAX_ADDR_LEN {
                return Err(Refusal::new(
                    ResponseCode::ControllerInvalidRequest,
                    format!("{what} must be 1 to {MAX_ADDR_LEN} bytes long"),
                ));
            }
        }
        if r.store_id.is_empty() || r.store_id.len() > MAX_STORE_ID_LEN {
            return Err(Refusal::new(
                ResponseCode::ControllerInvalidRequest,
                format!("store_id must be 1 to {MAX_STORE_ID_LEN} bytes long"),
            ));
        }
        let (id, group) = self
            .propose(Command::Register {
                cluster: r.cluster.clone(),
                broker_name: r.broker_name.clone(),
                replica_id: r.replica_id,
                store_id: r.store_id.clone(),
                addr: r.addr.clone(),
                ha_addr: r.ha_addr.clone(),
                epoch: r.epoch,
                now_ms: now_ms(),
            })
            .await?;
        self.beat(&r.broker_name, id, r.epoch, r.log_end);
        info!(
            group = %r.broker_name,
            replica = id,
            addr = %r.addr,
            master = ?group.master.as_ref().map(|m| m.replica_id),
            epoch = group.epoch,
            "broker registered"
        );
        Ok(ControllerRegisterBrokerResponse {
            replica_id: id,
            group,
        })
    }

    /// A broker is alive: record it and answer with its group.
    ///
    /// # Errors
    /// Not the leader; an unknown group or replica, or a store that is not
    /// the one registered (the broker registers again).
    pub async fn heartbeat(&self, h: BrokerHeartbeat) -> Result<GroupView, Refusal> {
        self.ensure_leader().await?;
        let group = self.group(&h.broker_name).map_err(|_| need_register(&h))?;
        match group.replicas.get(&h.replica_id) {
            Some(r) if r.store_id == h.store_id => {}
            _ => return Err(need_register(&h)),
        }
        if h.epoch > group.epoch {
            // An epoch the controller never gave: its log end cannot be
            // compared with the others', so it is never preferred.
            let first = self
                .live
                .lock()
                .distrusted
                .insert((h.broker_name.clone(), h.replica_id));
            if first {
                warn!(
                group = %h.broker_name,
                replica = h.replica_id,
                claimed = h.epoch,
                epoch = group.epoch,
                "a broker claims an epoch beyond its group's; not trusted for elections"
                );
            }
            self.beat(&h.broker_name, h.replica_id, 0, 0);
        } else {
            self.beat(&h.broker_name, h.replica_id, h.epoch, h.log_end);
        }
        Ok(group.view())
    }

    /// The master changes its in-sync set.
    ///
    /// # Errors
    /// Not the master of the current epoch, a stale set, a bad set.
    pub async fn alter_sync_state_set(&self, a: AlterSyncStateSet) -> Result<GroupView, Refusal> {
        let (_, view) = self
            .propose(Command::AlterSyncStateSet {
                broker_name: a.broker_name.clone(),
                master_id: a.master_id,
                master_epoch: a.master_epoch,
                sync_state_set_epoch: a.sync_state_set_epoch,
                sync_state_set: a.sync_state_set.iter().copied().collect(),
            })
            .await?;
        info!(group = %a.broker_name, set = ?view.sync_state_set, epoch = view.sync_state_set_epoch, "in-sync set changed");
        Ok(view)
    }

    /// An operator makes `id` the master (`electMaster`).
    ///
    /// # Errors
    /// Not the leader, an unknown or dead replica, one outside the in-sync
    /// set.
    pub async fn elect_by_admin(&self, name: &BrokerName, id: u64) -> Result<GroupView, Refusal> {
        self.ensure_leader().await?;
        let group = self.group(name)?;
        if group.master == Some(id) {
            return Ok(group.view());
        }
        if !group.replicas.contains_key(&id) {
            return Err(Refusal::new(
                ResponseCode::ControllerBrokerMetadataNotExist,
                format!("{name} has no replica {id}"),
            ));
        }
        if self.alive(name, id, Instant::now()).is_none() {
            return Err(Refusal::new(
                ResponseCode::ControllerBrokerNotAlive,
                format!("{name} replica {id} is not alive"),
            ));
        }
        if !group.sync_state_set.contains(&id) {
            return Err(Refusal::new(
                ResponseCode::ControllerElectMasterFailed,
                format!(
                    "{name} replica {id} is not in the in-sync set {:?}; it may lack acknowledged messages",
                    group.sync_state_set
                ),
            ));
        }
        let (_, view) = self
            .propose(Command::Elect {
                broker_name: name.clone(),
                expected_epoch: group.epoch,
                new_master: id,
                reason: ElectReason::Admin,
                now_ms: now_ms(),
            })
            .await?;
        info!(group = %name, master = id, epoch = view.epoch, "master elected by an operator");
        Ok(view)
    }

    /// The controller group as this node sees it.
    pub fn metadata(&self) -> ControllerMetadata {
        let m = self.raft.metrics().borrow().clone();
        let nodes = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| ControllerNode {
                id: *id,
                addr: n.addr.clone(),
            })
            .collect();
        ControllerMetadata {
            node_id: self.id,
            nodes,
            leader_id: m.current_leader,
            leader_addr: m.current_leader.and_then(|l| self.peers.get(&l).cloned()),
            term: m.current_term,
            last_applied: m.last_applied.map_or(0, |l| l.index),
        }
    }

    /// One group in detail (leader only: liveness is the leader's).
    ///
    /// # Errors
    /// Not the leader, no such group.
    pub async fn sync_state_data(&self, name: &BrokerName) -> Result<SyncStateData, Refusal> {
        self.ensure_leader().await?;
        let group = self.group(name)?;
        let now = Instant::now();
        let live = self.live.lock();
        let replicas = group
            .replicas
            .keys()
            .filter_map(|id| {
                let beat = live.beats.get(&(name.clone(), *id));
                Some(ReplicaState {
                    replica: group.addr_of(*id)?,
                    alive: beat
                        .is_some_and(|b| now.duration_since(b.at) < self.config.heartbeat_timeout),
                    epoch: beat.map_or(0, |b| b.epoch),
                    log_end: beat.map_or(0, |b| b.log_end),
                    last_heartbeat_ms: beat.map(|b| now.duration_since(b.at).as_millis() as u64),
                })
            })
            .collect();
        Ok(SyncStateData {
            cluster: group.cluster.clone(),
            broker_name: name.clone(),
            group: group.view(),
            replicas,
        })
    }

    /// A group's epochs.
    ///
    /// # Errors
    /// Not the leader, no such group.
    pub async fn epochs(&self, name: &BrokerName) -> Result<BrokerEpochs, Refusal> {
        self.ensure_leader().await?;
        Ok(BrokerEpochs {
            epochs: self.group(name)?.epochs,
        })
    }

    /// Forgets retired replicas; refused for a live one.
    ///
    /// # Errors
    /// Not the leader, a live replica or the master, no such group.
    pub async fn clean(&self, name: &BrokerName, ids: Vec<u64>) -> Result<(), Refusal> {
        self.ensure_leader().await?;
        let group = self.group(name)?;
        let now = Instant::now();
        let targets: Vec<u64> = if ids.is_empty() {
            group.replicas.keys().copied().collect()
        } else {
            ids.clone()
        };
        if let Some(id) = targets
            .iter()
            .find(|id| self.alive(name, **id, now).is_some())
        {
            return Err(Refusal::new(
                ResponseCode::ControllerInvalidCleanBrokerMetadata,
                format!("{name} replica {id} is alive; stop it first"),
            ));
        }
        self.propose(Command::Clean {
            broker_name: name.clone(),
            replica_ids: ids,
        })
        .await?;
        info!(group = %name, replicas = ?targets, "broker data cleaned");
        Ok(())
    }

    /// Looks for silent masters until `stop`, electing replacements while
    /// this node leads.
    pub async fn scan_loop(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.controller_scan_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            self.scan_once().await;
        }
    }

    async fn scan_once(&self) {
        let leading = {
            let m = self.raft.metrics().borrow().clone();
            m.state == ServerState::Leader && m.current_leader == Some(self.id)
        };
        let now = Instant::now();
        let since = {
            let mut live = self.live.lock();
            if !leading {
                *live = Liveness::default();
                return;
            }
            *live.leader_since.get_or_insert(now)
        };
        // A new leader has heard no heartbeats yet: a full timeout first.
        if now.duration_since(since) < self.config.heartbeat_timeout {
            return;
        }
        let groups: Vec<(BrokerName, Group)> = self
            .applied
            .read()
            .state
            .groups
            .iter()
            .map(|(n, g)| (n.clone(), g.clone()))
            .collect();
        for (name, group) in groups {
            let Some(master) = group.master else { continue };
            if self.alive(&name, master, now).is_some() {
                continue;
            }
            let Some((id, reason)) = self.choose(&name, &group, master, now) else {
                let mut live = self.live.lock();
                if live.warned.insert(name.clone(), group.epoch) != Some(group.epoch) {
                    warn!(
                        group = %name,
                        master,
                        set = ?group.sync_state_set,
                        "master silent and no in-sync replica alive; waiting for one \
                         (--enable-elect-unclean-master elects from the others)"
                    );
                }
                continue;
            };
            let started = Instant::now();
            match self
                .propose(Command::Elect {
                    broker_name: name.clone(),
                    expected_epoch: group.epoch,
                    new_master: id,
                    reason,
                    now_ms: now_ms(),
                })
                .await
            {
                Ok((_, view)) => info!(
                    group = %name,
                    old_master = master,
                    new_master = id,
                    epoch = view.epoch,
                    reason = reason.as_str(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "master elected"
                ),
                Err(e) => warn!(group = %name, error = %e, "election not made"),
            }
        }
    }

    /// The replica to elect in place of a silent `master`: the live member
    /// of the in-sync set with the highest epoch, then the longest log,
    /// then the lowest id; with unclean elections enabled and none alive
    /// in the set, the same among the others.
    fn choose(
        &self,
        name: &BrokerName,
        group: &Group,
        master: u64,
        now: Instant,
    ) -> Option<(u64, ElectReason)> {
        let best = |in_set: bool| {
            group
                .replicas
                .keys()
                .filter(|id| **id != master && group.sync_state_set.contains(id) == in_set)
                .filter_map(|id| self.alive(name, *id, now).map(|b| (*id, b)))
                .max_by(|(a, x), (b, y)| {
                    (x.epoch, x.log_end, std::cmp::Reverse(*a)).cmp(&(
                        y.epoch,
                        y.log_end,
                        std::cmp::Reverse(*b),
                    ))
                })
                .map(|(id, _)| id)
        };
        best(true)
            .map(|id| (id, ElectReason::MasterSilent))
            .or_else(|| {
                self.config
                    .elect_unclean
                    .then(|| best(false))
                    .flatten()
                    .map(|id| (id, ElectReason::Unclean))
            })
    }

    /// How long a master may go without a heartbeat.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.config.heartbeat_timeout
    }
}

fn need_register(h: &BrokerHeartbeat) -> Refusal {
    Refusal::new(
        ResponseCode::ControllerBrokerNeedToBeRegistered,
        format!(
            "{} replica {} is not registered with this store; register first",
            h.broker_name, h.replica_id
        ),
    )
}
