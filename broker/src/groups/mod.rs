//! Consumer groups on this broker: membership (`consumers`), per-group
//! settings (`subscriptions`) and orderly-consumption queue locks
//! (`locks`), tied together by [`Groups`], which turns membership changes
//! into notifications and lock releases.
//!
//! ```text
//! heartbeat ──▶ register ──joined?──▶ NotifyConsumerIdsChanged to every member
//! unregister / scan (expired, connection closed)
//!           ──▶ remove ──▶ release the client's queue locks ──▶ notify the rest
//! ```

mod consumers;
mod locks;
mod subscriptions;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferromq_protocol::header::{HeartbeatRequest, NotifyConsumerIdsChanged, ResetOffsetNotify};
use ferromq_protocol::GroupName;
use ferromq_remoting::PeerHandle;
use tracing::warn;

pub use consumers::{ConsumerManager, RegisterError};
pub use locks::QueueLockManager;
pub use subscriptions::{SubscriptionGroupError, SubscriptionGroupManager};

/// Rounds of "notify, drop members found closed, notify again": each round
/// removes at least one member, and the periodic scan catches the rest.
const NOTIFY_ROUNDS: usize = 3;

/// Membership, settings and locks of every consumer group.
pub struct Groups {
    consumers: ConsumerManager,
    subscriptions: SubscriptionGroupManager,
    locks: QueueLockManager,
    /// A client silent for this long leaves its groups.
    client_expiry: Duration,
}

impl Groups {
    /// Loads the subscription groups under `config_dir`.
    ///
    /// # Errors
    /// An unreadable or corrupt subscription-groups file.
    pub fn load(
        config_dir: PathBuf,
        client_expiry: Duration,
        lock_expiry: Duration,
    ) -> std::io::Result<Self> {
        Ok(Self {
            consumers: ConsumerManager::default(),
            subscriptions: SubscriptionGroupManager::load(config_dir)?,
            locks: QueueLockManager::new(lock_expiry),
            client_expiry,
        })
    }

    /// Live members.
    pub fn consumers(&self) -> &ConsumerManager {
        &self.consumers
    }

    /// Per-group settings.
    pub fn subscriptions(&self) -> &SubscriptionGroupManager {
        &self.subscriptions
    }

    /// Queue locks.
    pub fn locks(&self) -> &QueueLockManager {
        &self.locks
    }

    /// Registers or refreshes every consumer group of a heartbeat, creating
    /// subscription groups first seen; groups the client joined are
    /// notified. Producer groups are not tracked.
    ///
    /// # Errors
    /// A membership cap was reached (groups registered before it stay).
    pub fn heartbeat(
        &self,
        req: &HeartbeatRequest,
        conn: &PeerHandle,
        now: Instant,
    ) -> Result<(), RegisterError> {
        let mut joined = BTreeSet::new();
        let mut result = Ok(());
        for data in &req.consumers {
            match self
                .consumers
                .register(&req.client_id, data, &req.version, conn, now)
            {
                Ok(true) => {
                    joined.insert(data.group.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if let Err(e) = self.subscriptions.ensure(&data.group) {
                // Membership works without it; the defaults apply.
                warn!(group = %data.group, error = %e, "cannot create the subscription group");
            }
        }
        for g in &joined {
            self.notify_ids_changed(g);
        }
        result
    }

    /// A client leaves `group`, or every group when `None`.
    pub fn unregister(&self, client_id: &str, group: Option<&GroupName>) {
        let left: Vec<GroupName> = match group {
            Some(g) => {
                if self.consumers.unregister(g, client_id) {
                    vec![g.clone()]
                } else {
                    Vec::new()
                }
            }
            None => self.consumers.unregister_everywhere(client_id),
        };
        self.members_left(left.into_iter().map(|g| (g, client_id.to_string())));
    }

    /// Removes clients silent past the expiry or whose connection closed,
    /// notifies their groups, and forgets expired locks.
    pub fn scan(&self, now: Instant) {
        let dead = self.consumers.remove_dead(now, self.client_expiry);
        self.members_left(dead);
        self.locks.sweep(now);
    }

    /// Forgets a deleted group's locks (its members stay until they leave).
    pub fn forget_group(&self, group: &GroupName) {
        self.locks.remove_group(group);
    }

    /// Tells every live member of `group` to reset `topic` to these
    /// offsets; returns how many members it reached.
    pub fn notify_reset(&self, msg: &ResetOffsetNotify) -> usize {
        let members = self.consumers.client_ids(&msg.group).len();
        let closed = self.consumers.notify_all(&msg.group, msg);
        let reached = members.saturating_sub(closed.len());
        if self.drop_closed(&msg.group, closed) {
            self.notify_ids_changed(&msg.group);
        }
        reached
    }

    fn members_left(&self, left: impl IntoIterator<Item = (GroupName, String)>) {
        let mut groups = BTreeSet::new();
        for (g, client) in left {
            let n = self.locks.release_client(&g, &client);
            if n > 0 {
                tracing::info!(group = %g, client_id = %client, released = n, "queue locks released");
            }
            groups.insert(g);
        }
        for g in &groups {
            self.notify_ids_changed(g);
        }
    }

    /// Sends `NotifyConsumerIdsChanged` to every member of `group`. A member
    /// found closed on the way is removed, and the others are told again.
    fn notify_ids_changed(&self, group: &GroupName) {
        let msg = NotifyConsumerIdsChanged {
            group: group.clone(),
        };
        for _ in 0..NOTIFY_ROUNDS {
            let closed = self.consumers.notify_all(group, &msg);
            if !self.drop_closed(group, closed) {
                return;
            }
        }
    }

    /// Removes members found closed; returns whether any was removed.
    fn drop_closed(&self, group: &GroupName, closed: Vec<String>) -> bool {
        let mut removed = false;
        for c in closed {
            if self.consumers.remove_if_closed(group, &c) {
                self.locks.release_client(group, &c);
                removed = true;
            }
        }
        removed
    }
}
