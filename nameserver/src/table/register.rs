//! Broker registration (also every heartbeat).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferromq_protocol::header::{
    BrokerData, QueueData, RegisterBrokerRequest, RegisterBrokerResponse, TopicConfig, MASTER_ID,
};
use ferromq_protocol::BrokerName;

use super::{LiveEntry, RouteTable};

/// What a registration did, for the caller's log and reply.
#[derive(Debug)]
pub(crate) struct Registered {
    /// The reply to the broker.
    pub(crate) response: RegisterBrokerResponse,
    /// The address was not registered under this identity before (a new
    /// broker, a restart under another name or id), as opposed to a heartbeat.
    pub(crate) first: bool,
    /// Addresses that held the same (broker name, id) and were dropped.
    pub(crate) replaced: Option<String>,
}

impl RouteTable {
    /// Inserts or refreshes a broker. A master's `topics` (the request's
    /// body) replace the queue data of its broker name; a slave's are
    /// ignored, since only the master decides which queues exist.
    pub(crate) fn register(
        &mut self,
        req: RegisterBrokerRequest,
        topics: Vec<TopicConfig>,
        now: Instant,
    ) -> Registered {
        let RegisterBrokerRequest {
            cluster,
            broker_name,
            broker_id,
            broker_addr,
            version,
            heartbeat_timeout_ms,
        } = req;

        // An address lives under one identity. If it had another one (a slave
        // promoted to master, a broker restarted under a new name), forget the
        // old identity as if it had unregistered.
        let same_identity = self
            .live
            .get(&broker_addr)
            .map(|e| e.broker_name == broker_name && e.broker_id == broker_id);
        let registered_at = match same_identity {
            Some(true) => self.live.get(&broker_addr).map(|e| e.registered_at),
            Some(false) => {
                self.remove_addr(&broker_addr);
                None
            }
            None => None,
        };

        let data = self
            .brokers
            .entry(broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: cluster.clone(),
                broker_name: broker_name.clone(),
                addrs: BTreeMap::new(),
            });
        // A broker name moved to another cluster leaves the old one, so that
        // it is never listed under two clusters.
        if data.cluster != cluster {
            let old = std::mem::replace(&mut data.cluster, cluster.clone());
            if let Some(set) = self.clusters.get_mut(&old) {
                set.remove(&broker_name);
                if set.is_empty() {
                    self.clusters.remove(&old);
                }
            }
        }
        self.clusters
            .entry(cluster)
            .or_default()
            .insert(broker_name.clone());
        let replaced = data
            .addrs
            .insert(broker_id, broker_addr.clone())
            .filter(|old| *old != broker_addr);
        let master_addr = (broker_id != MASTER_ID)
            .then(|| data.master_addr().map(str::to_string))
            .flatten();
        if let Some(old) = &replaced {
            // The old address no longer routes anywhere; keeping it live
            // would only let its expiry remove the new one's slot later.
            self.live.remove(old);
        }

        let timeout = match heartbeat_timeout_ms {
            // 0 is a broker bug rather than a wish to expire at once.
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => self.default_expiry,
        };
        self.live.insert(
            broker_addr,
            LiveEntry {
                last_heartbeat: now,
                registered_at: registered_at.unwrap_or(now),
                version,
                broker_name: broker_name.clone(),
                broker_id,
                timeout,
            },
        );

        if broker_id == MASTER_ID {
            self.replace_queue_data(&broker_name, topics);
        }
        Registered {
            response: RegisterBrokerResponse { master_addr },
            first: registered_at.is_none(),
            replaced,
        }
    }

    /// Makes `topics` the complete list of `broker`'s queue data: reported
    /// topics are inserted or updated, the others lose this broker, and a
    /// topic left without any broker disappears.
    fn replace_queue_data(&mut self, broker: &BrokerName, topics: Vec<TopicConfig>) {
        // Collected into a map first so a topic listed twice counts once
        // (the last entry wins).
        let reported: BTreeMap<_, _> = topics
            .into_iter()
            .map(|t| {
                let queues = QueueData {
                    broker_name: broker.clone(),
                    read_queues: t.read_queues,
                    write_queues: t.write_queues,
                    perm: t.perm,
                };
                (t.name, queues)
            })
            .collect();
        self.topics.retain(|topic, queues| {
            if !reported.contains_key(topic) {
                queues.remove(broker);
            }
            !queues.is_empty()
        });
        for (topic, queues) in reported {
            self.topics
                .entry(topic)
                .or_default()
                .insert(broker.clone(), queues);
        }
    }
}
