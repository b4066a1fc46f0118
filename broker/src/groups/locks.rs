//! Queue locks for orderly consumption: a queue of a group is held by at
//! most one client, so only one instance processes it even while a
//! rebalance moves queues around. A lock lasts `expiry` after its last
//! renewal (RocketMQ: 60 s; clients renew every 20 s); a client that leaves
//! its group releases its locks at once (see `Groups`).
//!
//! Pure logic: the caller passes the time, so tests control the clock.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ferromq_protocol::header::QueueRef;
use ferromq_protocol::GroupName;
use parking_lot::Mutex;

/// Most locked queues per group; requests beyond are not granted (a group
/// with more queues than this on one broker is not a real deployment).
pub const MAX_LOCKS_PER_GROUP: usize = 65_536;

#[derive(Clone, Debug)]
struct Holder {
    client_id: String,
    renewed: Instant,
}

/// The queue locks of every group on this broker.
pub struct QueueLockManager {
    expiry: Duration,
    /// Group → queue → holder. One lock for everything: lock calls are rare
    /// (every 20 s per client) and short; never held across an await.
    groups: Mutex<HashMap<GroupName, BTreeMap<QueueRef, Holder>>>,
}

impl QueueLockManager {
    /// Locks last `expiry` after their last renewal.
    pub fn new(expiry: Duration) -> Self {
        Self {
            expiry,
            groups: Mutex::new(HashMap::new()),
        }
    }

    fn expired(&self, h: &Holder, now: Instant) -> bool {
        now.saturating_duration_since(h.renewed) > self.expiry
    }

    /// Grants `client_id` every queue of `queues` that no other client holds
    /// (or whose holder's lock expired), renewing those it already holds.
    /// Returns the queues it now holds, in request order, without
    /// duplicates.
    pub fn lock_batch(
        &self,
        group: &GroupName,
        client_id: &str,
        queues: &[QueueRef],
        now: Instant,
    ) -> Vec<QueueRef> {
        let mut groups = self.groups.lock();
        let locks = groups.entry(group.clone()).or_default();
        let mut granted = Vec::new();
        for q in queues {
            let free = match locks.get(q) {
                None => locks.len() < MAX_LOCKS_PER_GROUP,
                Some(h) => h.client_id == client_id || self.expired(h, now),
            };
            if free {
                let renewed = Holder {
                    client_id: client_id.to_string(),
                    renewed: now,
                };
                if locks
                    .insert(q.clone(), renewed)
                    .is_some_and(|old| old.client_id != client_id)
                {
                    tracing::info!(%group, queue = ?q, client_id, "expired queue lock taken over");
                }
                if !granted.contains(q) {
                    granted.push(q.clone());
                }
            }
        }
        if locks.is_empty() {
            groups.remove(group);
        }
        granted
    }

    /// Releases the queues of `queues` that `client_id` holds; locks of
    /// other clients are untouched.
    pub fn unlock_batch(&self, group: &GroupName, client_id: &str, queues: &[QueueRef]) {
        let mut groups = self.groups.lock();
        let Some(locks) = groups.get_mut(group) else {
            return;
        };
        for q in queues {
            if locks.get(q).is_some_and(|h| h.client_id == client_id) {
                locks.remove(q);
            }
        }
        if locks.is_empty() {
            groups.remove(group);
        }
    }

    /// Releases every lock `client_id` holds in `group` (it left the group).
    pub fn release_client(&self, group: &GroupName, client_id: &str) -> usize {
        let mut groups = self.groups.lock();
        let Some(locks) = groups.get_mut(group) else {
            return 0;
        };
        let before = locks.len();
        locks.retain(|_, h| h.client_id != client_id);
        let released = before - locks.len();
        if locks.is_empty() {
            groups.remove(group);
        }
        released
    }

    /// Forgets every lock of a deleted group.
    pub fn remove_group(&self, group: &GroupName) {
        self.groups.lock().remove(group);
    }

    /// Drops expired locks, so memory follows the live locks only.
    pub fn sweep(&self, now: Instant) {
        let mut groups = self.groups.lock();
        for locks in groups.values_mut() {
            locks.retain(|_, h| !self.expired(h, now));
        }
        groups.retain(|_, locks| !locks.is_empty());
    }

    /// The client holding a queue's unexpired lock.
    #[cfg(test)]
    pub fn holder(&self, group: &GroupName, queue: &QueueRef, now: Instant) -> Option<String> {
        self.groups
            .lock()
            .get(group)
            .and_then(|l| l.get(queue))
            .filter(|h| !self.expired(h, now))
            .map(|h| h.client_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_protocol::{QueueId, TopicName};

    fn q(n: u32) -> QueueRef {
        QueueRef {
            topic: TopicName::new("T").unwrap(),
            queue_id: QueueId::new(n),
        }
    }

    fn setup() -> (QueueLockManager, GroupName, Instant) {
        (
            QueueLockManager::new(Duration::from_secs(60)),
            GroupName::new("g").unwrap(),
            Instant::now(),
        )
    }

    #[test]
    fn one_holder_per_queue_and_renewal() {
        let (m, g, t0) = setup();
        assert_eq!(m.lock_batch(&g, "a", &[q(0), q(1)], t0), vec![q(0), q(1)]);
        // b gets only what a does not hold.
        assert_eq!(m.lock_batch(&g, "b", &[q(1), q(2)], t0), vec![q(2)]);
        // a renews at 50 s, so at 100 s its lock is still fresh.
        let t50 = t0 + Duration::from_secs(50);
        assert_eq!(m.lock_batch(&g, "a", &[q(0)], t50), vec![q(0)]);
        let t100 = t0 + Duration::from_secs(100);
        assert_eq!(m.lock_batch(&g, "b", &[q(0)], t100), Vec::<QueueRef>::new());
        // q(1) was last renewed at 0 s: expired at 100 s, b takes it.
        assert_eq!(m.lock_batch(&g, "b", &[q(1)], t100), vec![q(1)]);
        assert_eq!(m.holder(&g, &q(1), t100).as_deref(), Some("b"));
    }

    #[test]
    fn expiry_is_strictly_after_the_limit() {
        let (m, g, t0) = setup();
        m.lock_batch(&g, "a", &[q(0)], t0);
        let at_limit = t0 + Duration::from_secs(60);
        assert!(m.lock_batch(&g, "b", &[q(0)], at_limit).is_empty());
        let after = at_limit + Duration::from_millis(1);
        assert_eq!(m.lock_batch(&g, "b", &[q(0)], after), vec![q(0)]);
    }

    #[test]
    fn unlock_releases_only_own_locks() {
        let (m, g, t0) = setup();
        m.lock_batch(&g, "a", &[q(0)], t0);
        m.unlock_batch(&g, "b", &[q(0)]);
        assert_eq!(m.holder(&g, &q(0), t0).as_deref(), Some("a"));
        m.unlock_batch(&g, "a", &[q(0)]);
        assert_eq!(m.holder(&g, &q(0), t0), None);
        assert_eq!(m.lock_batch(&g, "b", &[q(0)], t0), vec![q(0)]);
    }

    #[test]
    fn groups_are_independent_and_release_client_frees_all() {
        let (m, g, t0) = setup();
        let g2 = GroupName::new("g2").unwrap();
        m.lock_batch(&g, "a", &[q(0), q(1)], t0);
        assert_eq!(m.lock_batch(&g2, "b", &[q(0)], t0), vec![q(0)]);
        assert_eq!(m.release_client(&g, "a"), 2);
        assert_eq!(m.lock_batch(&g, "c", &[q(0), q(1)], t0), vec![q(0), q(1)]);
        assert_eq!(m.holder(&g2, &q(0), t0).as_deref(), Some("b"));
    }

    #[test]
    fn duplicates_in_a_request_are_granted_once_and_sweep_drops_expired() {
        let (m, g, t0) = setup();
        assert_eq!(m.lock_batch(&g, "a", &[q(0), q(0)], t0), vec![q(0)]);
        m.sweep(t0 + Duration::from_secs(61));
        assert!(m.groups.lock().is_empty());
    }
}
