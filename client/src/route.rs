//! A topic's route as the client uses it: the NameServer's
//! [`TopicRouteData`] flattened into the queues a producer may write and a
//! consumer may read, plus each broker name's master address.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use ferromq_protocol::header::{
    QueueData, TopicRouteData, AUTO_CREATE_QUEUES, PERM_READ, PERM_READ_WRITE, PERM_WRITE,
};
use ferromq_protocol::{BrokerName, QueueId, TopicName};

/// One queue of a topic on one broker name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageQueue {
    /// Topic.
    pub topic: TopicName,
    /// Broker name (master and slaves share it).
    pub broker_name: BrokerName,
    /// Queue id on that broker.
    pub queue_id: QueueId,
}

impl MessageQueue {
    /// A queue.
    pub fn new(topic: TopicName, broker_name: BrokerName, queue_id: QueueId) -> Self {
        Self {
            topic,
            broker_name,
            queue_id,
        }
    }
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}/{}", self.topic, self.broker_name, self.queue_id)
    }
}

/// Where a topic lives, ready for queue selection.
#[derive(Clone, Debug)]
pub struct TopicRoute {
    topic: TopicName,
    write_queues: Vec<MessageQueue>,
    read_queues: Vec<MessageQueue>,
    masters: BTreeMap<BrokerName, String>,
    /// Every live address of each broker name, master first, then the
    /// slaves by id: where reads may go.
    readers: BTreeMap<BrokerName, Vec<String>>,
    data: TopicRouteData,
    fetched_at: Instant,
}

impl TopicRoute {
    /// Flattens `data`. Brokers are ordered by name and queues by id, so
    /// every client sees the same order.
    ///
    /// Write queues only come from broker names with write permission *and*
    /// a live master, since a send can go nowhere else. Read queues keep
    /// broker names whose master is currently missing: the queue still
    /// exists, and its pull task waits for the master to come back instead
    /// of forgetting its position.
    pub fn from_data(topic: TopicName, data: TopicRouteData) -> Self {
        let masters: BTreeMap<BrokerName, String> = data
            .broker_datas
            .iter()
            .filter_map(|b| Some((b.broker_name.clone(), b.master_addr()?.to_string())))
            .collect();
        // `addrs` is ordered by broker id, and the master's id is 0.
        let readers = data
            .broker_datas
            .iter()
            .map(|b| (b.broker_name.clone(), b.addrs.values().cloned().collect()))
            .collect();
        let mut qds: Vec<_> = data.queue_datas.iter().collect();
        qds.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        let queues = |n: u32, name: &BrokerName| -> Vec<MessageQueue> {
            (0..n)
                .map(|q| MessageQueue::new(topic.clone(), name.clone(), QueueId::new(q)))
                .collect()
        };
        let mut write_queues = Vec::new();
        let mut read_queues = Vec::new();
        for qd in qds {
            if qd.perm & PERM_WRITE != 0 && masters.contains_key(&qd.broker_name) {
                write_queues.extend(queues(qd.write_queues, &qd.broker_name));
            }
            if qd.perm & PERM_READ != 0 {
                read_queues.extend(queues(qd.read_queues, &qd.broker_name));
            }
        }
        Self {
            topic,
            write_queues,
            read_queues,
            masters,
            readers,
            data,
            fetched_at: Instant::now(),
        }
    }

    /// A route for `topic`, which no NameServer knows yet, made from the
    /// route of the auto-create topic (`TBW102`, registered by brokers that
    /// create topics on first send): every broker name that routes it with
    /// write permission and a live master gets
    /// `min(AUTO_CREATE_QUEUES, its write queues)` queues. `None` if no
    /// such broker is left. A send to one of these queues makes the broker
    /// create the topic.
    pub fn provisional(topic: TopicName, auto_create: &TopicRoute) -> Option<Self> {
        let queue_datas: Vec<QueueData> = auto_create
            .data
            .queue_datas
            .iter()
            .filter(|qd| {
                qd.perm & PERM_WRITE != 0 && auto_create.masters.contains_key(&qd.broker_name)
            })
            .map(|qd| {
                let n = AUTO_CREATE_QUEUES.min(qd.write_queues);
                QueueData {
                    broker_name: qd.broker_name.clone(),
                    read_queues: n,
                    write_queues: n,
                    perm: PERM_READ_WRITE,
                }
            })
            .filter(|qd| qd.write_queues > 0)
            .collect();
        if queue_datas.is_empty() {
            return None;
        }
        let broker_datas = auto_create
            .data
            .broker_datas
            .iter()
            .filter(|b| queue_datas.iter().any(|q| q.broker_name == b.broker_name))
            .cloned()
            .collect();
        let data = TopicRouteData {
            queue_datas,
            broker_datas,
        };
        Some(Self::from_data(topic, data))
    }

    /// The topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// Queues a producer may send to, grouped by broker name.
    pub fn write_queues(&self) -> &[MessageQueue] {
        &self.write_queues
    }

    /// Queues a consumer reads, grouped by broker name.
    pub fn read_queues(&self) -> &[MessageQueue] {
        &self.read_queues
    }

    /// The master address of a broker name, if it is alive.
    pub fn master_addr(&self, broker: &BrokerName) -> Option<&str> {
        self.masters.get(broker).map(String::as_str)
    }

    /// Where `broker`'s queues can be read: its master, then its slaves by
    /// broker id (slaves serve pulls, offset lookups and commits while the
    /// master is unreachable).
    pub fn read_addrs(&self, broker: &BrokerName) -> &[String] {
        self.readers.get(broker).map_or(&[], Vec::as_slice)
    }

    /// The address of `broker`'s replica `id` (0: the master), if live.
    pub fn addr_of(&self, broker: &BrokerName, id: u64) -> Option<&str> {
        self.data
            .broker_datas
            .iter()
            .find(|b| b.broker_name == *broker)?
            .addrs
            .get(&id)
            .map(String::as_str)
    }

    /// Every live address of every broker name, masters and slaves.
    pub fn all_addrs(&self) -> impl Iterator<Item = &str> {
        self.readers.values().flatten().map(String::as_str)
    }

    /// Broker names with a live master, and their addresses.
    pub fn masters(&self) -> impl Iterator<Item = (&BrokerName, &str)> {
        self.masters.iter().map(|(n, a)| (n, a.as_str()))
    }

    /// The NameServer's answer this route was built from.
    pub fn data(&self) -> &TopicRouteData {
        &self.data
    }

    /// When the route was read from a NameServer.
    pub fn fetched_at(&self) -> Instant {
        self.fetched_at
    }

    /// Whether the route has no queue at all to read or write.
    pub fn is_empty(&self) -> bool {
        self.write_queues.is_empty() && self.read_queues.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ferromq_protocol::header::{BrokerData, QueueData, PERM_READ_WRITE};
    use ferromq_protocol::ClusterName;

    use super::*;

    pub(crate) fn data(brokers: &[(&str, u32, u8, bool)]) -> TopicRouteData {
        TopicRouteData {
            queue_datas: brokers
                .iter()
                .map(|&(name, n, perm, _)| QueueData {
                    broker_name: BrokerName::new(name).unwrap(),
                    read_queues: n,
                    write_queues: n,
                    perm,
                })
                .collect(),
            broker_datas: brokers
                .iter()
                .enumerate()
                .map(|(i, &(name, _, _, master))| BrokerData {
                    cluster: ClusterName::new("c").unwrap(),
                    broker_name: BrokerName::new(name).unwrap(),
                    addrs: if master {
                        [(0, format!("10.0.0.{i}:10911"))].into()
                    } else {
                        [(1, format!("10.0.0.{i}:10921"))].into()
                    },
                })
                .collect(),
        }
    }

    pub(crate) fn route(brokers: &[(&str, u32, u8, bool)]) -> TopicRoute {
        TopicRoute::from_data(TopicName::new("T").unwrap(), data(brokers))
    }

    #[test]
    fn flattens_queues_in_broker_order() {
        let r = route(&[
            ("broker-b", 2, PERM_READ_WRITE, true),
            ("broker-a", 3, PERM_READ_WRITE, true),
        ]);
        let names: Vec<String> = r.write_queues().iter().map(|q| q.to_string()).collect();
        assert_eq!(
            names,
            [
                "T@broker-a/0",
                "T@broker-a/1",
                "T@broker-a/2",
                "T@broker-b/0",
                "T@broker-b/1"
            ]
        );
        assert_eq!(r.read_queues().len(), 5);
        assert_eq!(
            r.master_addr(&BrokerName::new("broker-b").unwrap()),
            Some("10.0.0.0:10911")
        );
    }

    #[test]
    fn provisional_route_uses_the_writable_auto_create_brokers() {
        let auto = TopicRoute::from_data(
            TopicName::new("TBW102").unwrap(),
            data(&[
                ("big", 8, PERM_READ_WRITE, true),
                ("small", 2, PERM_READ_WRITE, true),
                ("wiped", 8, PERM_READ, true),
                ("dead", 8, PERM_READ_WRITE, false),
            ]),
        );
        let t = TopicName::new("New").unwrap();
        let r = TopicRoute::provisional(t.clone(), &auto).unwrap();
        assert_eq!(r.topic(), &t);
        let names: Vec<String> = r.write_queues().iter().map(|q| q.to_string()).collect();
        assert_eq!(
            names,
            [
                "New@big/0",
                "New@big/1",
                "New@big/2",
                "New@big/3",
                "New@small/0",
                "New@small/1"
            ]
        );
        assert_eq!(r.masters().count(), 2);
        assert_eq!(r.data().broker_datas.len(), 2);

        let none = TopicRoute::from_data(
            TopicName::new("TBW102").unwrap(),
            data(&[("wiped", 8, PERM_READ, true)]),
        );
        assert!(TopicRoute::provisional(t, &none).is_none());
    }

    #[test]
    fn permissions_and_missing_masters_filter_queues() {
        let r = route(&[
            ("ro", 2, PERM_READ, true),
            ("wo", 2, PERM_WRITE, true),
            ("nomaster", 2, PERM_READ_WRITE, false),
        ]);
        let brokers = |qs: &[MessageQueue]| {
            let mut v: Vec<String> = qs.iter().map(|q| q.broker_name.to_string()).collect();
            v.dedup();
            v
        };
        assert_eq!(brokers(r.write_queues()), ["wo"]);
        assert_eq!(brokers(r.read_queues()), ["nomaster", "ro"]);
        assert_eq!(r.master_addr(&BrokerName::new("nomaster").unwrap()), None);
        assert_eq!(r.masters().count(), 2);
        assert_eq!(
            r.read_addrs(&BrokerName::new("nomaster").unwrap()),
            ["10.0.0.2:10921"],
            "a broker name without a master is read from its slave"
        );
    }

    #[test]
    fn reads_prefer_the_master_then_slaves_by_id() {
        let mut d = data(&[("a", 2, PERM_READ_WRITE, true)]);
        d.broker_datas[0].addrs.insert(2, "10.0.0.9:10931".into());
        d.broker_datas[0].addrs.insert(1, "10.0.0.8:10921".into());
        let r = TopicRoute::from_data(TopicName::new("T").unwrap(), d);
        assert_eq!(
            r.read_addrs(&BrokerName::new("a").unwrap()),
            ["10.0.0.0:10911", "10.0.0.8:10921", "10.0.0.9:10931"]
        );
        assert_eq!(r.all_addrs().count(), 3);
        assert!(r.read_addrs(&BrokerName::new("zz").unwrap()).is_empty());
    }
}
