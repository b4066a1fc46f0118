//! Everything that takes brokers or topics out: unregistration, expiry and
//! topic deletion.

use std::time::Instant;

use ferromq_protocol::{BrokerName, TopicName};

use super::RouteTable;

/// An address removed by [`RouteTable::expire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expired {
    /// The address.
    pub(crate) addr: String,
    /// Its broker name.
    pub(crate) broker_name: BrokerName,
    /// Its broker id.
    pub(crate) broker_id: u64,
}

impl RouteTable {
    /// Removes `addr` if it is still registered as (`name`, `id`). Returns
    /// whether anything was removed. A late unregister from an address that
    /// another one has replaced in that slot must not remove its successor,
    /// which is why all three must match.
    pub(crate) fn unregister(&mut self, name: &BrokerName, id: u64, addr: &str) -> bool {
        let holds = self
            .live
            .get(addr)
            .is_some_and(|e| e.broker_name == *name && e.broker_id == id);
        if holds {
            self.remove_addr(addr);
        }
        holds
    }

    /// Removes every address silent for longer than its timeout at `now`,
    /// exactly as if it had unregistered. Strictly longer, as RocketMQ does:
    /// a heartbeat arriving right at the deadline still counts.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let expired: Vec<Expired> = self
            .live
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_heartbeat) > e.timeout)
            .map(|(addr, e)| Expired {
                addr: addr.clone(),
                broker_name: e.broker_name.clone(),
                broker_id: e.broker_id,
            })
            .collect();
        for e in &expired {
            self.remove_addr(&e.addr);
        }
        expired
    }

    /// Removes a topic's route. Returns whether it existed. A master that
    /// still has the topic puts it back at its next heartbeat, as in
    /// RocketMQ, so operators delete on the brokers first.
    pub(crate) fn delete_topic(&mut self, topic: &TopicName) -> bool {
        self.topics.remove(topic).is_some()
    }

    /// Forgets `addr` under whatever identity it is live; when that leaves
    /// its broker name without addresses, the broker name goes too.
    pub(super) fn remove_addr(&mut self, addr: &str) {
        let Some(entry) = self.live.remove(addr) else {
            return;
        };
        let name = &entry.broker_name;
        let Some(data) = self.brokers.get_mut(name) else {
            return;
        };
        if data.addrs.get(&entry.broker_id).map(String::as_str) == Some(addr) {
            data.addrs.remove(&entry.broker_id);
        }
        if data.addrs.is_empty() {
            self.remove_broker_name(name);
        }
    }

    /// Drops a broker name from its cluster and its queues from every topic;
    /// topics left without queues vanish, so no route points at nothing.
    fn remove_broker_name(&mut self, name: &BrokerName) {
        let Some(data) = self.brokers.remove(name) else {
            return;
        };
        if let Some(set) = self.clusters.get_mut(&data.cluster) {
            set.remove(name);
            if set.is_empty() {
                self.clusters.remove(&data.cluster);
            }
        }
        self.topics.retain(|_, queues| {
            queues.remove(name);
            !queues.is_empty()
        });
    }
}
