//! Controller mode (RocketMQ's `enableControllerMode`): the controller
//! group, not the flags or an operator, decides which replica of the
//! broker group is master.
//!
//! The broker registers once (the controller gives it its id, kept in
//! `config/broker.json` with a random id of its store), then heartbeats
//! every `--controller-heartbeat-interval-ms`. Every answer is the group
//! as the controller has it, and the broker makes its role match:
//!
//! * master named is this broker, in a newer epoch: it begins that epoch
//!   at its log end and takes sends;
//! * master named is another: it becomes (or stays) that master's slave,
//!   with its own id, and truncates what the master does not have;
//! * as master it keeps the controller's in-sync set up to date (a slave
//!   joins once caught up, leaves once behind or silent for
//!   `--ha-in-sync-timeout-ms`) and makes sync sends wait for every slave
//!   in it, counting a pending change both ways until confirmed.
//!
//! **Lease.** A master that has had no heartbeat answered for
//! `--controller-lease-ms`, counted from when the last answered one was
//! sent, stops taking sends (fenced) until an answer names it master of
//! its epoch again. The controller elects another master only after
//! `--broker-heartbeat-timeout-ms` without a heartbeat, counted from when
//! one arrived, and leaders answer only after a quorum confirmed them: a
//! master cut off from the controller stops acknowledging before a new
//! one is elected.
//!
//! The broker starts fenced and stays so until the first answer.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromq_controller::client::ControllerCallError;
use ferromq_controller::ControllerClient;
use ferromq_protocol::header::{
    AlterSyncStateSet, BrokerHeartbeat, ControllerRegisterBroker, GroupView, HaRoleChangeRequest,
    RoleAction,
};
use ferromq_protocol::ResponseCode;
use ferromq_store::StoreRole;
use tracing::{error, info, warn};

use super::Broker;
use crate::ha::master;
use crate::state::ControllerIdentity;

/// Longest a call to one controller node may take.
const CALL_TIMEOUT: Duration = Duration::from_millis(800);
/// Shortest heartbeat interval taken, whatever the flag says.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// A random store identity: 16 bytes of the kernel's randomness in hex.
fn new_store_id() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Sleeps until `at`, or forever when there is no `at`.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the agent remembers between heartbeats.
struct Agent {
    client: ControllerClient,
    ident: ControllerIdentity,
    registered: bool,
    /// When the last answered call was sent.
    last_ok: Option<Instant>,
    /// Members of the controller's in-sync set this master does not see
    /// in sync, since when.
    absent: HashMap<u64, Instant>,
    /// The last failure logged, so a controller outage logs once.
    last_error: Option<String>,
}

impl Broker {
    /// Whether the controller decides this broker's role.
    pub(crate) fn controller_mode(&self) -> bool {
        self.config.ha.controller_addr.is_some()
    }

    /// The id to register with the NameServers: the role's, except in
    /// controller mode, where a fenced master registers as the replica it
    /// is (a slave's id), so routes never send producers to a master that
    /// takes no sends or keep it as id 0 after the group elected another;
    /// and a broker the controller has not given an id yet does not
    /// register at all (`None`), so a new replica never takes id 0 from
    /// the group's master.
    pub(crate) fn registered_id(&self) -> Option<u64> {
        let id = self.broker_id();
        if !self.controller_mode() {
            return Some(id);
        }
        let me = self.state.controller_identity().map_or(0, |i| i.replica_id);
        if me == 0 {
            None
        } else if id == 0 && self.state.is_fenced() {
            Some(me)
        } else {
            Some(id)
        }
    }

    /// Controller mode: no sends until the controller has answered.
    pub(crate) fn fence_until_controller(&self) {
        if self.controller_mode() {
            self.state.set_fenced(true);
            self.store.set_role(StoreRole::Slave);
            info!("controller mode: taking no sends until the controller names this broker master");
        }
    }

    /// Controller mode: registers, heartbeats and follows the controller's
    /// decisions until shutdown.
    pub(crate) async fn run_controller_agent(self: Arc<Self>) {
        let Some(addrs) = self.config.ha.controller_addr.as_deref() else {
            return;
        };
        let ident = match self.state.controller_identity() {
            Some(i) => i,
            None => {
                let i = match new_store_id() {
                    Ok(store_id) => ControllerIdentity {
                        replica_id: 0,
                        store_id,
                    },
                    Err(e) => {
                        error!(error = %e, "cannot make a store identity; controller mode is off");
                        return;
                    }
                };
                if let Err(e) = self.state.set_controller_identity(i.clone()) {
                    error!(error = %e, "cannot record the store identity; controller mode is off");
                    return;
                }
                i
            }
        };
        let mut agent = Agent {
            client: ControllerClient::new(ControllerClient::parse_addrs(addrs), CALL_TIMEOUT),
            ident,
            registered: false,
            last_ok: None,
            absent: HashMap::new(),
            last_error: None,
        };
        let interval = self
            .config
            .ha
            .controller_heartbeat_interval
            .max(MIN_INTERVAL);
        let lease = self.config.ha.controller_lease;
        // The lease's end while it still runs; once it has run out there
        // is nothing to race, and a heartbeat may take its time.
        let running_lease = |agent: &Agent| {
            agent
                .last_ok
                .map(|t| t + lease)
                .filter(|end| *end > Instant::now())
                .map(tokio::time::Instant::from_std)
        };
        loop {
            let sent = Instant::now();
            let lease_end = running_lease(&agent);
            let answer = tokio::select! {
                r = self.ask(&mut agent) => Some(r),
                () = sleep_until_some(lease_end) => None,
                () = self.shutdown.cancelled() => return,
            };
            match answer {
                Some(Ok(view)) => {
                    agent.last_ok = Some(sent);
                    if agent.last_error.take().is_some() {
                        info!("controller reachable again");
                    }
                    self.reconcile(&mut agent, view).await;
                }
                Some(Err(e)) => {
                    if e.code() == Some(ResponseCode::ControllerBrokerNeedToBeRegistered) {
                        agent.registered = false;
                    }
                    let msg = e.to_string();
                    if agent.last_error.as_ref() != Some(&msg) {
                        warn!(error = %msg, "controller call failed");
                        agent.last_error = Some(msg);
                    }
                }
                // The lease ran out while waiting; the call starts again.
                None => {}
            }
            if agent.last_ok.is_none_or(|t| t.elapsed() >= lease) {
                self.lease_lost().await;
            }
            let next = tokio::time::Instant::from_std(sent + interval);
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = sleep_until_some(running_lease(&agent)) => self.lease_lost().await,
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    /// One registration (until the first succeeds) or heartbeat.
    async fn ask(&self, agent: &mut Agent) -> Result<GroupView, ControllerCallError> {
        let epoch = master::current_epoch(&self.store);
        let log_end = self.store.log_end().get();
        if !agent.registered {
            let r = agent
                .client
                .call(&ControllerRegisterBroker {
                    cluster: self.config.cluster.clone(),
                    broker_name: self.config.broker_name.clone(),
                    replica_id: agent.ident.replica_id,
                    store_id: agent.ident.store_id.clone(),
                    addr: self.addr().to_string(),
                    ha_addr: self.endpoint.ha_addr.clone(),
                    epoch,
                    log_end,
                })
                .await?;
            if r.replica_id != agent.ident.replica_id {
                agent.ident.replica_id = r.replica_id;
                if let Err(e) = self.state.set_controller_identity(agent.ident.clone()) {
                    // Not registered until the id is on disk: a restart
                    // must claim the same id.
                    error!(error = %e, "cannot record the broker id the controller gave");
                    return Err(ControllerCallError::NoLeader(e.to_string()));
                }
            }
            agent.registered = true;
            // The NameServers may hear of it now.
            self.register_soon();
            info!(
                replica_id = r.replica_id,
                master = ?r.group.master.as_ref().map(|m| m.replica_id),
                epoch = r.group.epoch,
                "registered with the controller"
            );
            return Ok(r.group);
        }
        agent
            .client
            .call(&BrokerHeartbeat {
                cluster: self.config.cluster.clone(),
                broker_name: self.config.broker_name.clone(),
                replica_id: agent.ident.replica_id,
                store_id: agent.ident.store_id.clone(),
                epoch,
                log_end,
            })
            .await
    }

    /// No answer within the lease: a master stops taking sends.
    async fn lease_lost(&self) {
        if self.role().is_master() && !self.state.is_fenced() {
            warn!(
                lease_ms = self.config.ha.controller_lease.as_millis() as u64,
                "no answer from the controller within the lease: taking no sends"
            );
            self.role_change(RoleAction::Fence, 0, None, 0).await;
        }
    }

    async fn role_change(
        &self,
        action: RoleAction,
        broker_id: u64,
        master_ha: Option<String>,
        min_epoch: u32,
    ) -> bool {
        let req = HaRoleChangeRequest {
            action,
            broker_id,
            master_ha,
            min_epoch,
        };
        match self.change_role(req, ([0, 0, 0, 0], 0).into()).await {
            Ok(_) => true,
            Err(e) => {
                warn!(?action, error = %e, "role change for the controller failed; will try again");
                false
            }
        }
    }

    /// Makes this broker's role what the controller says.
    async fn reconcile(&self, agent: &mut Agent, view: GroupView) {
        let me = agent.ident.replica_id;
        let role = self.role();
        let epoch = master::current_epoch(&self.store);
        match &view.master {
            Some(m) if m.replica_id == me => {
                // Sends wait for the controller's set from the first one on.
                self.replicas.set_required(
                    view.sync_state_set
                        .iter()
                        .copied()
                        .filter(|x| *x != me)
                        .collect(),
                );
                if epoch > view.epoch {
                    error!(
                        epoch,
                        controller_epoch = view.epoch,
                        "this log is at a later epoch than the controller's; taking no sends"
                    );
                    self.lease_lost().await;
                    return;
                }
                if !role.is_master() || epoch < view.epoch {
                    // A slave is promoted; a master begins the new epoch
                    // fenced, as a promotion of a master needs.
                    if role.is_master() && !self.state.is_fenced() {
                        self.role_change(RoleAction::Fence, 0, None, 0).await;
                    }
                    if self
                        .role_change(RoleAction::Promote, 0, None, view.epoch.saturating_sub(1))
                        .await
                    {
                        let now = master::current_epoch(&self.store);
                        if now != view.epoch {
                            error!(
                                epoch = now,
                                controller_epoch = view.epoch,
                                "began another epoch than the controller's"
                            );
                        }
                        info!(epoch = now, "elected master by the controller");
                    }
                } else if self.state.is_fenced() {
                    info!(epoch, "the controller confirms this master: taking sends");
                    self.role_change(RoleAction::Unfence, 0, None, 0).await;
                }
                if self.role().is_master() {
                    self.sync_in_sync_set(agent, &view, me).await;
                }
            }
            Some(m) => {
                if role.is_master()
                    || role.broker_id != me
                    || role.master_ha.as_deref() != Some(m.ha_addr.as_str())
                {
                    info!(master = m.replica_id, master_ha = %m.ha_addr, epoch = view.epoch, "following the master the controller names");
                    self.role_change(RoleAction::Demote, me, Some(m.ha_addr.clone()), 0)
                        .await;
                }
            }
            None => self.lease_lost().await,
        }
    }

    /// As master: proposes the in-sync set as this master sees it, and
    /// makes sends wait for the controller's set and a pending one.
    async fn sync_in_sync_set(&self, agent: &mut Agent, view: &GroupView, me: u64) {
        let confirmed: BTreeSet<u64> = view
            .sync_state_set
            .iter()
            .copied()
            .filter(|x| *x != me)
            .collect();
        let local = self.replicas.in_sync_ids();
        let now = Instant::now();
        agent
            .absent
            .retain(|id, _| confirmed.contains(id) && !local.contains(id));
        for id in confirmed.difference(&local) {
            agent.absent.entry(*id).or_insert(now);
        }
        let grace = self.config.ha.ha_in_sync_timeout;
        let mut desired = local.clone();
        for id in confirmed.difference(&local) {
            if agent
                .absent
                .get(id)
                .is_some_and(|t| now.duration_since(*t) < grace)
            {
                desired.insert(*id);
            }
        }
        if desired == confirmed {
            self.replicas.set_required(confirmed);
            return;
        }
        self.replicas
            .set_required(confirmed.union(&desired).copied().collect());
        let mut proposed: Vec<u64> = desired.iter().copied().collect();
        proposed.push(me);
        proposed.sort_unstable();
        match agent
            .client
            .call(&AlterSyncStateSet {
                broker_name: self.config.broker_name.clone(),
                master_id: me,
                master_epoch: view.epoch,
                sync_state_set_epoch: view.sync_state_set_epoch,
                sync_state_set: proposed,
            })
            .await
        {
            Ok(v) => {
                info!(set = ?v.sync_state_set, epoch = v.sync_state_set_epoch, "in-sync set changed at the controller");
                self.replicas.set_required(
                    v.sync_state_set
                        .iter()
                        .copied()
                        .filter(|x| *x != me)
                        .collect(),
                );
            }
            Err(e) => warn!(error = %e, "the controller did not take the in-sync set"),
        }
    }
}
