//! Consumer group membership: which clients are in which group, on which
//! connection, with which subscriptions. Clients join and refresh with
//! heartbeats, leave by unregistering, by going silent for the expiry, or
//! by their connection closing. The connection handles (`PeerHandle`) live
//! only here; the broker reaches clients through this manager.
//!
//! Times are passed in by the caller, so tests control the clock.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ferromq_protocol::header::{
    ConsumeType, ConsumerConnection, ConsumerConnections, ConsumerData, MessageModel, Subscription,
};
use ferromq_protocol::{GroupName, Rpc};
use ferromq_remoting::PeerHandle;
use parking_lot::Mutex;

/// Most groups with live members on one broker.
pub const MAX_GROUPS: usize = 10_000;
/// Most clients in one group.
pub const MAX_CLIENTS_PER_GROUP: usize = 10_000;

/// One client's membership in one group.
#[derive(Debug, Clone)]
struct Member {
    conn: PeerHandle,
    last_heartbeat: Instant,
    version: String,
    consume_type: ConsumeType,
    model: MessageModel,
    subscriptions: Vec<Subscription>,
}

/// Why a heartbeat could not register a client.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// [`MAX_GROUPS`] groups already have members.
    TooManyGroups,
    /// The group already has [`MAX_CLIENTS_PER_GROUP`] clients.
    GroupFull,
}

/// The live members of every consumer group.
#[derive(Default)]
pub struct ConsumerManager {
    /// Group → client id → member. A `BTreeMap` keeps client ids sorted,
    /// the order clients allocate queues in. One lock: every operation is
    /// a few map lookups; never held across an await or while notifying.
    groups: Mutex<HashMap<GroupName, BTreeMap<String, Member>>>,
}

impl ConsumerManager {
    /// Registers or refreshes `client_id` in `data.group`. Returns whether
    /// the client joined (the group's client ids changed).
    ///
    /// # Errors
    /// A cap is reached; nothing changes.
    pub fn register(
        &self,
        client_id: &str,
        data: &ConsumerData,
        version: &str,
        conn: &PeerHandle,
        now: Instant,
    ) -> Result<bool, RegisterError> {
        let mut groups = self.groups.lock();
        if !groups.contains_key(&data.group) && groups.len() >= MAX_GROUPS {
            return Err(RegisterError::TooManyGroups);
        }
        let members = groups.entry(data.group.clone()).or_default();
        let member = Member {
            conn: conn.clone(),
            last_heartbeat: now,
            version: version.to_string(),
            consume_type: data.consume_type,
            model: data.model,
            subscriptions: data.subscriptions.clone(),
        };
        if let Some(m) = members.get_mut(client_id) {
            if m.conn.id() != conn.id() {
                tracing::info!(group = %data.group, client_id, addr = %conn.addr(), "consumer reconnected");
            }
            *m = member;
            return Ok(false);
        }
        if members.len() >= MAX_CLIENTS_PER_GROUP {
            return Err(RegisterError::GroupFull);
        }
        members.insert(client_id.to_string(), member);
        tracing::info!(group = %data.group, client_id, addr = %conn.addr(), "consumer joined");
        Ok(true)
    }

    /// Removes `client_id` from `group`; returns whether it was there.
    pub fn unregister(&self, group: &GroupName, client_id: &str) -> bool {
        let mut groups = self.groups.lock();
        let Some(members) = groups.get_mut(group) else {
            return false;
        };
        let removed = members.remove(client_id).is_some();
        if members.is_empty() {
            groups.remove(group);
        }
        if removed {
            tracing::info!(%group, client_id, "consumer left");
        }
        removed
    }

    /// Removes `client_id` from every group; returns the groups it left.
    pub fn unregister_everywhere(&self, client_id: &str) -> Vec<GroupName> {
        let mut groups = self.groups.lock();
        let mut left = Vec::new();
        for (g, members) in groups.iter_mut() {
            if members.remove(client_id).is_some() {
                tracing::info!(group = %g, client_id, "consumer left");
                left.push(g.clone());
            }
        }
        groups.retain(|_, m| !m.is_empty());
        left
    }

    /// Removes members whose last heartbeat is older than `expiry` or whose
    /// connection closed; returns them as (group, client id).
    pub fn remove_dead(&self, now: Instant, expiry: Duration) -> Vec<(GroupName, String)> {
        let mut groups = self.groups.lock();
        let mut dead = Vec::new();
        for (g, members) in groups.iter_mut() {
            members.retain(|id, m| {
                let silent = now.saturating_duration_since(m.last_heartbeat) > expiry;
                let closed = m.conn.is_closed();
                if silent || closed {
                    tracing::info!(group = %g, client_id = %id, addr = %m.conn.addr(), silent, closed, "consumer removed");
                    dead.push((g.clone(), id.clone()));
                }
                !(silent || closed)
            });
        }
        groups.retain(|_, m| !m.is_empty());
        dead
    }

    /// Removes `client_id` from `group` if its connection is closed.
    pub fn remove_if_closed(&self, group: &GroupName, client_id: &str) -> bool {
        let closed = self
            .groups
            .lock()
            .get(group)
            .and_then(|m| m.get(client_id))
            .is_some_and(|m| m.conn.is_closed());
        closed && self.unregister(group, client_id)
    }

    /// Sends `msg` oneway to every member of `group`; returns the members
    /// whose connection turned out to be closed (the caller removes them).
    /// A member whose send queue is full is skipped: it catches up with its
    /// periodic rebalance.
    pub fn notify_all<R: Rpc>(&self, group: &GroupName, msg: &R) -> Vec<String> {
        // Handles are cloned out so no lock is held while sending.
        let targets: Vec<(String, PeerHandle)> = self
            .groups
            .lock()
            .get(group)
            .map(|m| {
                m.iter()
                    .map(|(id, m)| (id.clone(), m.conn.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut closed = Vec::new();
        for (id, conn) in targets {
            if !conn.notify(msg) {
                if conn.is_closed() {
                    closed.push(id);
                } else {
                    tracing::debug!(%group, client_id = %id, code = ?R::CODE, "notification dropped: client queue full");
                }
            }
        }
        closed
    }

    /// The group's client ids, sorted.
    pub fn client_ids(&self, group: &GroupName) -> Vec<String> {
        self.groups
            .lock()
            .get(group)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The group's connections; subscriptions, consume type and model as
    /// the most recent heartbeat of any member declared them.
    pub fn connections(&self, group: &GroupName, now: Instant) -> ConsumerConnections {
        let groups = self.groups.lock();
        let Some(members) = groups.get(group) else {
            return ConsumerConnections {
                connections: Vec::new(),
                subscriptions: Vec::new(),
                consume_type: None,
                model: None,
            };
        };
        let connections = members
            .iter()
            .map(|(id, m)| ConsumerConnection {
                client_id: id.clone(),
                addr: m.conn.addr().to_string(),
                version: m.version.clone(),
                last_heartbeat_ago_ms: now.saturating_duration_since(m.last_heartbeat).as_millis()
                    as u64,
            })
            .collect();
        let latest = members.values().max_by_key(|m| m.last_heartbeat);
        ConsumerConnections {
            connections,
            subscriptions: latest.map(|m| m.subscriptions.clone()).unwrap_or_default(),
            consume_type: latest.map(|m| m.consume_type),
            model: latest.map(|m| m.model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_protocol::TopicName;

    fn data(group: &str) -> ConsumerData {
        ConsumerData {
            group: GroupName::new(group).unwrap(),
            consume_type: ConsumeType::Push,
            model: MessageModel::Clustering,
            subscriptions: vec![Subscription {
                topic: TopicName::new("T").unwrap(),
                expression: "*".into(),
            }],
        }
    }

    fn detached() -> PeerHandle {
        PeerHandle::detached("127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn join_refresh_leave() {
        let m = ConsumerManager::default();
        let t0 = Instant::now();
        let conn = detached();
        let d = data("g");
        assert_eq!(m.register("b", &d, "1", &conn, t0), Ok(true));
        assert_eq!(m.register("a", &d, "1", &conn, t0), Ok(true));
        assert_eq!(m.register("a", &d, "1", &conn, t0), Ok(false));
        assert_eq!(m.client_ids(&d.group), vec!["a", "b"]);
        assert!(m.unregister(&d.group, "a"));
        assert!(!m.unregister(&d.group, "a"));
        assert_eq!(m.unregister_everywhere("b"), vec![d.group.clone()]);
        assert!(m.client_ids(&d.group).is_empty());
        assert!(m.groups.lock().is_empty());
    }

    #[test]
    fn silent_and_closed_members_are_removed() {
        let m = ConsumerManager::default();
        let t0 = Instant::now();
        let d = data("g");
        // A detached handle counts as a closed connection.
        m.register("closed", &d, "1", &detached(), t0).unwrap();
        let dead = m.remove_dead(t0, Duration::from_secs(120));
        assert_eq!(dead, vec![(d.group.clone(), "closed".to_string())]);
        m.register("x", &d, "1", &detached(), t0).unwrap();
        assert!(m.remove_if_closed(&d.group, "x"));
        assert!(m.client_ids(&d.group).is_empty());
    }

    #[test]
    fn connections_report_the_latest_subscriptions() {
        let m = ConsumerManager::default();
        let t0 = Instant::now();
        let mut d = data("g");
        m.register("a", &d, "v1", &detached(), t0).unwrap();
        d.subscriptions[0].expression = "TagA".into();
        m.register("b", &d, "v2", &detached(), t0 + Duration::from_secs(1))
            .unwrap();
        let c = m.connections(&d.group, t0 + Duration::from_secs(3));
        assert_eq!(c.connections.len(), 2);
        assert_eq!(c.connections[0].last_heartbeat_ago_ms, 3000);
        assert_eq!(c.connections[1].version, "v2");
        assert_eq!(c.subscriptions[0].expression, "TagA");
        assert_eq!(c.model, Some(MessageModel::Clustering));
    }

    #[test]
    fn notify_reports_closed_members() {
        let m = ConsumerManager::default();
        let d = data("g");
        m.register("a", &d, "1", &detached(), Instant::now())
            .unwrap();
        let closed = m.notify_all(
            &d.group,
            &ferromq_protocol::header::NotifyConsumerIdsChanged {
                group: d.group.clone(),
            },
        );
        assert_eq!(closed, vec!["a"]);
    }
}
