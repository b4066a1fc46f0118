//! Manual promotion (`mqadmin promoteSlave`): a slave becomes its group's
//! master in a new epoch, the operator's tool for a dead or retiring
//! master, and the sequence the controller will automate.
//!
//! 1. If the group's master answers, it is *fenced*: it takes no more
//!    sends, while its slaves go on copying its log.
//! 2. The chosen slave catches up to the fenced master's log end (bounded
//!    by a timeout; if it cannot, the master is unfenced and nothing
//!    changes, unless forced).
//! 3. The slave is promoted: broker id 0, a new epoch starting at its log
//!    end, registered with the NameServers as the master.
//! 4. The old master is demoted to a slave of the new one (taking the
//!    promoted slave's old id) and the group's other slaves are pointed
//!    at the new master; each truncates whatever the new master never
//!    had, by the epoch rule, before it copies again.
//!
//! A master that was unreachable steps down by itself when it comes back:
//! it finds the newer master through the NameServers before it takes a
//! send, and at every registration round.

use std::time::Duration;

use ferromq_protocol::header::{HaRoleChangeRequest, HaRoleChangeResponse, RoleAction};
use tokio::time::Instant;
use tracing::{info, warn};

use super::AdminClient;
use crate::error::{ClientError, Result};

/// How a promotion goes.
#[derive(Clone, Debug)]
pub struct PromoteOptions {
    /// How long the slave may take to catch up to the fenced master.
    pub catch_up_timeout: Duration,
    /// Promote even if the slave did not catch up: what the master had
    /// beyond it is given up.
    pub force: bool,
}

impl Default for PromoteOptions {
    fn default() -> Self {
        Self {
            catch_up_timeout: Duration::from_secs(10),
            force: false,
        }
    }
}

/// What a promotion did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Promotion {
    /// The new master's address.
    pub new_master: String,
    /// Its new epoch.
    pub epoch: u32,
    /// Where the new epoch starts (its log end when promoted).
    pub epoch_start: u64,
    /// The old master, demoted, if it answered.
    pub old_master: Option<String>,
    /// The old master's log end when fenced.
    pub old_master_end: Option<u64>,
    /// Other slaves pointed at the new master.
    pub repointed: Vec<String>,
    /// Brokers of the group that could not be told (they find the new
    /// master themselves when they can).
    pub unreachable: Vec<String>,
}

impl AdminClient {
    /// Changes one broker's role (fence, unfence, promote, demote).
    ///
    /// # Errors
    /// Transport errors, or the broker's refusal.
    pub async fn change_role(
        &self,
        addr: &str,
        change: &HaRoleChangeRequest,
    ) -> Result<HaRoleChangeResponse> {
        // A promotion waits for replication to stop: allow for it.
        let timeout = self.client.config().request_timeout() + Duration::from_secs(10);
        Ok(self
            .client
            .call(addr, change, bytes::Bytes::new(), timeout)
            .await?
            .header)
    }

    /// Makes the slave at `slave_addr` its group's master (see the module
    /// documentation for the steps).
    ///
    /// # Errors
    /// The broker is not a slave; the slave did not catch up in time (and
    /// `force` was not given); the promotion itself failed.
    pub async fn promote_slave(
        &self,
        slave_addr: &str,
        opts: &PromoteOptions,
    ) -> Result<Promotion> {
        let s = self.broker_runtime_info(slave_addr).await?;
        if s.role != "slave" {
            return Err(ClientError::InvalidArgument(format!(
                "{slave_addr} is a {} (broker {} id {}): only a slave can be promoted",
                s.role, s.broker_name, s.broker_id
            )));
        }
        let addrs = self.broker_addrs(&s.broker_name).await.unwrap_or_default();
        let old = addrs.get(&0).filter(|a| *a != slave_addr).cloned();
        let mut unreachable = Vec::new();
        let mut min_epoch = s.epoch;
        let mut fenced = None;
        if let Some(m) = &old {
            match self.broker_runtime_info(m).await {
                Ok(mi) if mi.role == "master" => {
                    min_epoch = min_epoch.max(mi.epoch);
                    let f = self.change_role(m, &role(RoleAction::Fence)).await?;
                    info!(master = %m, log_end = f.log_end, "master fenced");
                    if let Err(e) = self.catch_up(slave_addr, f.log_end, opts).await {
                        if !opts.force {
                            if let Err(u) = self.change_role(m, &role(RoleAction::Unfence)).await {
                                warn!(master = %m, error = %u, "unfencing failed");
                            }
                            return Err(e);
                        }
                        warn!(error = %e, "promoting anyway (forced)");
                    }
                    fenced = Some((m.clone(), f.log_end));
                }
                Ok(mi) => warn!(addr = %m, role = %mi.role, "id 0 of the group is not a master"),
                Err(e) => {
                    warn!(master = %m, error = %e, "the master does not answer; promoting without it");
                    unreachable.push(m.clone());
                }
            }
        }
        let promoted = self
            .change_role(
                slave_addr,
                &HaRoleChangeRequest {
                    min_epoch,
                    ..role(RoleAction::Promote)
                },
            )
            .await?;
        let new_ha = (!s.ha_addr.is_empty()).then(|| s.ha_addr.clone());
        let demote = |broker_id| HaRoleChangeRequest {
            broker_id,
            master_ha: new_ha.clone(),
            ..role(RoleAction::Demote)
        };
        if let Some((m, _)) = &fenced {
            if let Err(e) = self.change_role(m, &demote(s.broker_id)).await {
                warn!(master = %m, error = %e, "demoting the old master failed; it steps down by itself at its next registration");
                unreachable.push(m.clone());
            }
        }
        let mut repointed = Vec::new();
        for (id, a) in &addrs {
            if *id == 0 || a == slave_addr {
                continue;
            }
            match self.change_role(a, &demote(*id)).await {
                Ok(_) => repointed.push(a.clone()),
                Err(e) => {
                    warn!(slave = %a, error = %e, "could not point a slave at the new master");
                    unreachable.push(a.clone());
                }
            }
        }
        Ok(Promotion {
            new_master: slave_addr.to_string(),
            epoch: promoted.epoch,
            epoch_start: promoted.log_end,
            old_master_end: fenced.as_ref().map(|(_, end)| *end),
            old_master: fenced.map(|(m, _)| m),
            repointed,
            unreachable,
        })
    }

    /// Waits until the slave's log reaches `end`.
    async fn catch_up(&self, slave: &str, end: u64, opts: &PromoteOptions) -> Result<()> {
        let deadline = Instant::now() + opts.catch_up_timeout;
        loop {
            let at = self.broker_runtime_info(slave).await?.commit_log_max_offset;
            if at >= end {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClientError::InvalidArgument(format!(
                    "slave {slave} reached {at} of the master's {end} within {} ms; \
                     not promoted (--force promotes anyway, giving up the rest)",
                    opts.catch_up_timeout.as_millis()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn role(action: RoleAction) -> HaRoleChangeRequest {
    HaRoleChangeRequest {
        action,
        broker_id: 0,
        master_ha: None,
        min_epoch: 0,
    }
}
