//! Changes of a broker's role, as `mqadmin promoteSlave` makes them:
//! fence a master (it takes no sends while a slave catches up), promote a
//! slave (a new epoch starting at its log end), demote a master (it copies
//! from the new master and truncates what that one never had).
//!
//! A change is applied by the server's role supervisor, which stops the
//! slave's replication tasks first, so no replicated append is in flight
//! when the log's epoch or role changes; [`Broker::change_role`] hands the
//! request over and waits for the outcome.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ferromq_protocol::header::{HaRoleChangeRequest, HaRoleChangeResponse, RoleAction};
use ferromq_protocol::CommitLogOffset;
use ferromq_store::StoreRole;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::{Broker, ServiceError};
use crate::ha::master;
use crate::state::Role;

/// A role change on its way to the supervisor, with where to answer.
pub(crate) struct RoleRequest {
    pub(crate) change: HaRoleChangeRequest,
    pub(crate) reply: oneshot::Sender<Result<HaRoleChangeResponse, ServiceError>>,
}

/// Role changes waiting for the supervisor; one at a time is plenty.
pub(crate) fn channel() -> (mpsc::Sender<RoleRequest>, mpsc::Receiver<RoleRequest>) {
    mpsc::channel(4)
}

impl Broker {
    /// This broker's role now.
    pub(crate) fn role(&self) -> Role {
        self.state.role()
    }

    /// This broker's id now (a promotion or demotion changes it).
    pub(crate) fn broker_id(&self) -> u64 {
        self.state.broker_id()
    }

    /// Where a slave's replication records the highest epoch its master
    /// announced; a promotion goes above it.
    pub(crate) fn master_epoch_seen(&self) -> Arc<AtomicU32> {
        self.master_epoch_seen.clone()
    }

    /// The request of an operator: checked, then applied by the role
    /// supervisor.
    ///
    /// # Errors
    /// `InvalidArgument` for a demotion to id 0 or a promotion of a
    /// master; what applying it failed with.
    pub(crate) async fn change_role(
        &self,
        change: HaRoleChangeRequest,
        peer: std::net::SocketAddr,
    ) -> Result<HaRoleChangeResponse, ServiceError> {
        if change.action == RoleAction::Demote && change.broker_id == 0 {
            return Err(ServiceError::InvalidArgument(
                "a demoted broker needs a slave's broker id (1 or more)".into(),
            ));
        }
        info!(action = ?change.action, %peer, "role change requested");
        let (reply, answer) = oneshot::channel();
        self.role_requests
            .send(RoleRequest { change, reply })
            .await
            .map_err(|_| ServiceError::ShuttingDown)?;
        answer.await.map_err(|_| ServiceError::ShuttingDown)?
    }

    /// Applies a change; the supervisor has stopped replication tasks.
    ///
    /// # Errors
    /// `InvalidArgument` when the change does not fit the role; the state
    /// file or the epoch file cannot be written.
    pub(crate) async fn apply_role_change(
        &self,
        change: &HaRoleChangeRequest,
    ) -> Result<HaRoleChangeResponse, ServiceError> {
        let role = self.state.role();
        let not = |what: &str| {
            Err(ServiceError::InvalidArgument(format!(
                "broker {} id {} is not {what}",
                self.config.broker_name, role.broker_id
            )))
        };
        match change.action {
            RoleAction::Fence => {
                if !role.is_master() {
                    return not("a master");
                }
                self.state.set_fenced(true);
                self.store.set_role(StoreRole::Slave);
                warn!("fenced: this master takes no sends until it is demoted or unfenced");
                self.register_soon();
            }
            RoleAction::Unfence => {
                if !role.is_master() {
                    return not("a master");
                }
                self.state.set_fenced(false);
                self.store.set_role(StoreRole::Master);
                info!("unfenced: taking sends again");
                self.register_soon();
            }
            RoleAction::Promote => {
                // A fenced master may begin a newer epoch (controller
                // mode: re-elected after a restart or a lost lease).
                let newer = self.state.is_fenced()
                    && change.min_epoch >= master::current_epoch(&self.store);
                if role.is_master() && !newer {
                    return not("a slave");
                }
                self.promote(change.min_epoch).await?;
            }
            RoleAction::Demote => {
                self.store.set_role(StoreRole::Slave);
                self.state.set_fenced(false);
                let new = Role {
                    broker_id: change.broker_id,
                    master_ha: change.master_ha.clone(),
                };
                self.state
                    .set_role(new)
                    .map_err(|source| ServiceError::Io {
                        context: "cannot record the new role".into(),
                        source,
                    })?;
                self.replicas.clear();
                warn!(
                    broker_id = change.broker_id,
                    master = ?change.master_ha,
                    "demoted: now a slave; what the new master does not have is truncated"
                );
                self.register_soon();
            }
        }
        Ok(self.role_response())
    }

    /// Becomes the group's master in a new epoch starting at the log end.
    async fn promote(&self, min_epoch: u32) -> Result<(), ServiceError> {
        let epoch = master::current_epoch(&self.store)
            .max(min_epoch)
            .max(self.master_epoch_seen.load(Ordering::Acquire))
            + 1;
        let store = self.store.clone();
        let start = tokio::task::spawn_blocking(move || {
            let start: CommitLogOffset = store.log_end();
            store.begin_epoch(epoch, start).map(|()| start)
        })
        .await
        .map_err(|source| ServiceError::Task {
            what: "epoch start",
            source,
        })?
        .map_err(|source| ServiceError::Store {
            context: "cannot begin the new epoch".into(),
            source,
        })?;
        self.state
            .set_role(Role {
                broker_id: 0,
                master_ha: None,
            })
            .map_err(|source| ServiceError::Io {
                context: "cannot record the new role".into(),
                source,
            })?;
        self.replicas.clear();
        self.state.set_fenced(false);
        self.store.set_role(StoreRole::Master);
        warn!(
            epoch,
            start = start.get(),
            "promoted: now the group's master"
        );
        self.adopt_topics_of_the_log();
        self.register_soon();
        Ok(())
    }

    /// A slave takes its master's topic configs every half second; one
    /// promoted before it took a topic still holds the topic's messages.
    /// Such a topic gets a config with as many queues as its log uses, so
    /// it is routed and served.
    fn adopt_topics_of_the_log(&self) {
        use ferromq_protocol::header::{TopicConfig, PERM_READ_WRITE};
        for (name, queues) in self.store.topics_with_queues() {
            if self.topics.get(&name).is_some() || name == *self.scheduler.topic() {
                continue;
            }
            let config = TopicConfig {
                name: name.clone(),
                read_queues: queues,
                write_queues: queues,
                perm: PERM_READ_WRITE,
            };
            match self.topics.upsert(config) {
                Ok(()) => {
                    warn!(topic = %name, queues, "topic known only from the log; its config is made from it")
                }
                Err(e) => {
                    warn!(topic = %name, error = %e, "cannot make a config for a topic of the log")
                }
            }
        }
    }

    fn role_response(&self) -> HaRoleChangeResponse {
        let role = self.state.role();
        HaRoleChangeResponse {
            role: role.name().into(),
            broker_id: role.broker_id,
            epoch: master::current_epoch(&self.store),
            log_end: self.store.log_end().get(),
            fenced: self.state.is_fenced(),
        }
    }
}
