use std::time::{Duration, Instant};

use ferromq_protocol::header::{RegisterBrokerRequest, TopicConfig, PERM_READ_WRITE};
use ferromq_protocol::{BrokerName, ClusterName, TopicName};

use super::RouteTable;

const EXPIRY: Duration = Duration::from_secs(120);

fn topic(n: &str) -> TopicName {
    TopicName::new(n).unwrap()
}

fn name(n: &str) -> BrokerName {
    BrokerName::new(n).unwrap()
}

/// A registration: the request's header and its body's topics.
struct Reg {
    header: RegisterBrokerRequest,
    topics: Vec<TopicConfig>,
}

fn reg(cluster: &str, broker: &str, id: u64, addr: &str, topics: &[(&str, u32)]) -> Reg {
    Reg {
        header: RegisterBrokerRequest {
            cluster: ClusterName::new(cluster).unwrap(),
            broker_name: name(broker),
            broker_id: id,
            broker_addr: addr.to_string(),
            version: "0.1.0".into(),
            heartbeat_timeout_ms: None,
        },
        topics: topics
            .iter()
            .map(|(t, q)| TopicConfig {
                name: topic(t),
                read_queues: *q,
                write_queues: *q,
                perm: PERM_READ_WRITE,
            })
            .collect(),
    }
}

impl RouteTable {
    fn add(&mut self, r: Reg, now: Instant) -> super::register::Registered {
        self.register(r.header, r.topics, now)
    }
}

/// The invariants listed in the module docs.
fn check(t: &RouteTable) {
    for (addr, e) in &t.live {
        let data = &t.brokers[&e.broker_name];
        assert_eq!(
            data.addrs.get(&e.broker_id),
            Some(addr),
            "live {addr} not in addrs"
        );
    }
    let mut addr_count = 0;
    for (n, data) in &t.brokers {
        assert!(!data.addrs.is_empty(), "{n} has no addresses");
        assert!(
            t.clusters[&data.cluster].contains(n),
            "{n} not in its cluster"
        );
        for (id, addr) in &data.addrs {
            assert_eq!(t.live[addr].broker_id, *id);
            addr_count += 1;
        }
    }
    assert_eq!(addr_count, t.live.len());
    for (c, set) in &t.clusters {
        assert!(!set.is_empty(), "cluster {c} is empty");
        for n in set {
            assert_eq!(t.brokers[n].cluster, *c);
        }
    }
    for (tp, queues) in &t.topics {
        assert!(!queues.is_empty(), "topic {tp} has no queues");
    }
}

fn route_brokers(t: &RouteTable, tp: &str) -> Vec<String> {
    let r = t.route(&topic(tp)).unwrap();
    let q: Vec<String> = r
        .queue_datas
        .iter()
        .map(|q| q.broker_name.to_string())
        .collect();
    let b: Vec<String> = r
        .broker_datas
        .iter()
        .map(|b| b.broker_name.to_string())
        .collect();
    assert_eq!(q, b, "queue datas and broker datas disagree");
    q
}

#[test]
fn two_brokers_with_overlapping_topics_share_the_route() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(
        reg(
            "c1",
            "broker-a",
            0,
            "10.0.0.1:10911",
            &[("t1", 8), ("t2", 4)],
        ),
        now,
    );
    t.add(
        reg(
            "c1",
            "broker-b",
            0,
            "10.0.0.2:10911",
            &[("t2", 2), ("t3", 1)],
        ),
        now,
    );
    check(&t);

    assert_eq!(route_brokers(&t, "t1"), ["broker-a"]);
    assert_eq!(route_brokers(&t, "t2"), ["broker-a", "broker-b"]);
    assert_eq!(route_brokers(&t, "t3"), ["broker-b"]);
    let r = t.route(&topic("t2")).unwrap();
    assert_eq!(r.queue_datas[0].write_queues, 4);
    assert_eq!(r.queue_datas[1].write_queues, 2);
    assert_eq!(r.broker_datas[1].master_addr(), Some("10.0.0.2:10911"));

    let info = t.cluster_info(now);
    assert_eq!(info.clusters[&ClusterName::new("c1").unwrap()].len(), 2);
    assert_eq!(info.live.len(), 2);
    let topics: Vec<_> = t
        .topic_list()
        .topics
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(topics, ["t1", "t2", "t3"]);
}

#[test]
fn master_reregistration_replaces_its_topics() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(
        reg("c1", "broker-a", 0, "a:1", &[("t1", 8), ("shared", 4)]),
        now,
    );
    t.add(reg("c1", "broker-b", 0, "b:1", &[("shared", 4)]), now);
    // broker-a no longer has t1 nor shared, and changed t2's queues.
    let first = t.add(reg("c1", "broker-a", 0, "a:1", &[("t2", 3)]), now);
    check(&t);
    assert!(!first.first, "a heartbeat is not a first registration");
    assert!(t.route(&topic("t1")).is_none(), "t1 lost its only broker");
    assert_eq!(route_brokers(&t, "shared"), ["broker-b"]);
    assert_eq!(t.route(&topic("t2")).unwrap().queue_datas[0].read_queues, 3);
    assert_eq!(t.topic_list().topics, [topic("shared"), topic("t2")]);
}

#[test]
fn slave_registration_leaves_queue_data_alone() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(reg("c1", "broker-a", 0, "master:1", &[("t1", 8)]), now);
    let slave = t.add(reg("c1", "broker-a", 1, "slave:1", &[("other", 1)]), now);
    check(&t);
    assert_eq!(slave.response.master_addr.as_deref(), Some("master:1"));
    assert!(
        t.route(&topic("other")).is_none(),
        "a slave's topics are ignored"
    );
    let r = t.route(&topic("t1")).unwrap();
    assert_eq!(r.queue_datas.len(), 1);
    assert_eq!(r.queue_datas[0].read_queues, 8);
    assert_eq!(r.broker_datas[0].addrs.len(), 2);

    // The master gets no master address back (it is the master).
    let master = t.add(reg("c1", "broker-a", 0, "master:1", &[("t1", 8)]), now);
    assert_eq!(master.response.master_addr, None);
}

#[test]
fn unregister_last_address_removes_the_broker_name() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(
        reg("c1", "broker-a", 0, "a0:1", &[("t1", 8), ("t2", 1)]),
        now,
    );
    t.add(reg("c1", "broker-a", 1, "a1:1", &[]), now);
    t.add(reg("c1", "broker-b", 0, "b0:1", &[("t2", 1)]), now);

    assert!(
        !t.unregister(&name("broker-a"), 1, "wrong:1"),
        "address must match"
    );
    assert!(!t.unregister(&name("broker-a"), 0, "a1:1"), "id must match");
    assert!(t.unregister(&name("broker-a"), 0, "a0:1"));
    check(&t);
    // The slave still serves broker-a's queues.
    assert_eq!(route_brokers(&t, "t1"), ["broker-a"]);

    assert!(t.unregister(&name("broker-a"), 1, "a1:1"));
    check(&t);
    assert!(t.route(&topic("t1")).is_none());
    assert_eq!(route_brokers(&t, "t2"), ["broker-b"]);
    let info = t.cluster_info(now);
    assert_eq!(info.brokers.len(), 1);
    assert_eq!(info.live.len(), 1);

    assert!(t.unregister(&name("broker-b"), 0, "b0:1"));
    check(&t);
    assert!(t.clusters.is_empty() && t.topics.is_empty() && t.brokers.is_empty());
}

#[test]
fn expiry_uses_each_brokers_timeout() {
    let mut t = RouteTable::new(Duration::from_secs(10));
    let start = Instant::now();
    t.add(reg("c1", "broker-a", 0, "a:1", &[("t1", 8)]), start);
    let mut custom = reg("c1", "broker-b", 0, "b:1", &[("t1", 8)]);
    custom.header.heartbeat_timeout_ms = Some(30_000);
    t.add(custom, start);

    assert!(
        t.expire(start + Duration::from_secs(10)).is_empty(),
        "exactly at the timeout is still alive"
    );
    let gone = t.expire(start + Duration::from_millis(10_001));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].addr, "a:1");
    check(&t);
    assert_eq!(route_brokers(&t, "t1"), ["broker-b"]);

    // A heartbeat pushes the deadline out.
    let mut again = reg("c1", "broker-b", 0, "b:1", &[("t1", 8)]);
    again.header.heartbeat_timeout_ms = Some(30_000);
    t.add(again, start + Duration::from_secs(20));
    assert!(t.expire(start + Duration::from_secs(45)).is_empty());
    let gone = t.expire(start + Duration::from_secs(51));
    assert_eq!(gone.len(), 1);
    check(&t);
    assert!(t.route(&topic("t1")).is_none());
    assert!(t.clusters.is_empty());
}

#[test]
fn zero_heartbeat_timeout_means_the_default() {
    let mut t = RouteTable::new(Duration::from_secs(10));
    let start = Instant::now();
    let mut r = reg("c1", "broker-a", 0, "a:1", &[]);
    r.header.heartbeat_timeout_ms = Some(0);
    t.add(r, start);
    assert!(t.expire(start + Duration::from_secs(5)).is_empty());
}

#[test]
fn new_address_in_the_same_slot_replaces_the_old_one() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(reg("c1", "broker-a", 0, "old:1", &[("t1", 8)]), now);
    let r = t.add(reg("c1", "broker-a", 0, "new:1", &[("t1", 8)]), now);
    check(&t);
    assert_eq!(r.replaced.as_deref(), Some("old:1"));
    assert!(r.first);
    let route = t.route(&topic("t1")).unwrap();
    assert_eq!(route.broker_datas[0].master_addr(), Some("new:1"));
    assert_eq!(t.cluster_info(now).live.len(), 1);
    // The old address's late unregister does not touch the new one.
    assert!(!t.unregister(&name("broker-a"), 0, "old:1"));
    assert_eq!(
        t.route(&topic("t1")).unwrap().broker_datas[0].addrs.len(),
        1
    );
}

#[test]
fn address_changing_identity_leaves_its_old_one() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    // A slave promoted: same address, id 1 → 0.
    t.add(reg("c1", "broker-a", 1, "x:1", &[]), now);
    t.add(reg("c1", "broker-a", 0, "x:1", &[("t1", 8)]), now);
    check(&t);
    let addrs = &t.route(&topic("t1")).unwrap().broker_datas[0].addrs;
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs.get(&0).map(String::as_str), Some("x:1"));

    // Restarted under another name and cluster: broker-a disappears.
    t.add(reg("c2", "broker-z", 0, "x:1", &[("t2", 1)]), now);
    check(&t);
    assert!(t.route(&topic("t1")).is_none());
    assert_eq!(t.clusters.len(), 1);
    assert_eq!(route_brokers(&t, "t2"), ["broker-z"]);
}

#[test]
fn broker_name_moving_cluster_leaves_the_old_cluster() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(reg("c1", "broker-a", 0, "a:1", &[]), now);
    t.add(reg("c2", "broker-a", 0, "a:1", &[]), now);
    check(&t);
    assert_eq!(
        t.clusters.keys().map(|c| c.to_string()).collect::<Vec<_>>(),
        ["c2"]
    );
}

#[test]
fn ages_and_registration_time_survive_heartbeats() {
    let mut t = RouteTable::new(EXPIRY);
    let start = Instant::now();
    t.add(reg("c1", "broker-a", 0, "a:1", &[]), start);
    t.add(
        reg("c1", "broker-a", 0, "a:1", &[]),
        start + Duration::from_secs(30),
    );
    let info = t.cluster_info(start + Duration::from_secs(31));
    assert_eq!(info.live[0].last_heartbeat_ago_ms, 1_000);
    assert_eq!(info.live[0].registered_ago_ms, 31_000);
    assert_eq!(info.live[0].version, "0.1.0");
}

#[test]
fn delete_topic_and_duplicates_in_a_registration() {
    let mut t = RouteTable::new(EXPIRY);
    let now = Instant::now();
    t.add(
        reg(
            "c1",
            "broker-a",
            0,
            "a:1",
            &[("t1", 8), ("t1", 2), ("t2", 1)],
        ),
        now,
    );
    check(&t);
    let r = t.route(&topic("t1")).unwrap();
    assert_eq!(r.queue_datas.len(), 1);
    assert_eq!(r.queue_datas[0].read_queues, 2, "the last entry wins");
    assert!(t.delete_topic(&topic("t1")));
    assert!(!t.delete_topic(&topic("t1")));
    assert!(t.route(&topic("t1")).is_none());
    assert_eq!(t.topic_list().topics, [topic("t2")]);
}
