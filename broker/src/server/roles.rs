//! The role supervisor: while the broker is a slave it runs the
//! replication tasks (the log and the metadata); a role change stops them,
//! is applied, and they start again if the broker is still (or now) a
//! slave. Also the check that keeps an old master from taking sends when
//! its group has a newer one (promoted while it was away).

use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{GetBrokerRuntimeInfoRequest, HaRoleChangeRequest, RoleAction};
use ferromq_remoting::Connection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::loops;
use crate::ha::{self, slave::SlaveContext};
use crate::service::Broker;

const CALL: Duration = Duration::from_secs(3);

/// Runs until shutdown: slave tasks while a slave, role changes between.
pub(super) async fn supervise(b: Arc<Broker>) {
    let Some(mut inbox) = b.take_role_inbox() else {
        return;
    };
    loop {
        let term = b.shutdown_token().child_token();
        let tasks = slave_tasks(&b, &term);
        let next = tokio::select! {
            r = inbox.recv() => r,
            () = b.shutdown_token().cancelled() => None,
        };
        // Replication stops between appends; then the change is applied.
        term.cancel();
        for t in tasks {
            let _ = t.await;
        }
        let Some(req) = next else { return };
        let result = b.apply_role_change(&req.change).await;
        let _ = req.reply.send(result);
    }
}

fn slave_tasks(b: &Arc<Broker>, term: &CancellationToken) -> Vec<JoinHandle<()>> {
    let role = b.role();
    if role.is_master() {
        return Vec::new();
    }
    let ctx = || SlaveContext {
        config: b.config().clone(),
        store: b.store().clone(),
        addr: b.addr().to_string(),
        broker_id: role.broker_id,
        master_ha: role.master_ha.clone(),
        master_epoch_seen: b.master_epoch_seen(),
        shutdown: term.clone(),
    };
    vec![
        tokio::spawn(ha::slave::run(ctx())),
        tokio::spawn(loops::follow_metadata(b.clone(), ctx())),
    ]
}

/// A master that finds its group's id 0 held by another master of a
/// higher epoch (a slave promoted while this one was away or cut off)
/// steps down: it becomes a slave of that master, with the lowest free
/// broker id, and truncates what the new master never had. Called before
/// the broker serves and at every registration round.
pub(super) async fn step_down_if_superseded(b: &Arc<Broker>, before_serving: bool) {
    // Under a controller, the controller decides.
    if !b.role().is_master() || b.controller_mode() {
        return;
    }
    let Some((newer, epoch, free_id)) = newer_master(b).await else {
        return;
    };
    warn!(master = %newer.addr, epoch, own_epoch = crate::ha::master::current_epoch(b.store()),
          broker_id = free_id, "the group has a newer master: stepping down to a slave");
    let change = HaRoleChangeRequest {
        action: RoleAction::Demote,
        broker_id: free_id,
        master_ha: (!newer.ha_addr.is_empty()).then(|| newer.ha_addr.clone()),
        min_epoch: 0,
    };
    let result = if before_serving {
        b.apply_role_change(&change).await
    } else {
        b.change_role(
            change,
            newer.addr.parse().unwrap_or(([0, 0, 0, 0], 0).into()),
        )
        .await
    };
    if let Err(e) = result {
        warn!(error = %e, "stepping down failed; will try again");
    }
}

struct Newer {
    addr: String,
    ha_addr: String,
}

/// The NameServers' id 0 of this broker name, when it is another broker
/// that says it is a master of a higher epoch; with the lowest broker id
/// no other broker of the group holds.
async fn newer_master(b: &Broker) -> Option<(Newer, u32, u64)> {
    let config = b.config();
    let own_epoch = crate::ha::master::current_epoch(b.store());
    let group = crate::ha::group_from_namesrv(config, |_| true).await?;
    let id0 = group.get(&0)?;
    if id0 == b.addr() {
        return None;
    }
    let other = Connection::connect(id0, CALL).await.ok()?;
    let theirs = other
        .call(&GetBrokerRuntimeInfoRequest {}, bytes::Bytes::new(), CALL)
        .await
        .ok()?
        .header;
    debug!(other = %id0, role = %theirs.role, epoch = theirs.epoch, own_epoch, "another id 0 in the group");
    if theirs.role != "master" || theirs.epoch <= own_epoch {
        return None;
    }
    let taken: Vec<u64> = group
        .iter()
        .filter(|(_, a)| a.as_str() != b.addr())
        .map(|(id, _)| *id)
        .collect();
    let free = (1..).find(|id| !taken.contains(id)).unwrap_or(1);
    Some((
        Newer {
            addr: id0.clone(),
            ha_addr: theirs.ha_addr,
        },
        theirs.epoch,
        free,
    ))
}
