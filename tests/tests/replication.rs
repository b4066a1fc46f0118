//! A master and a slave broker in one process: the slave copies the
//! master's commit log byte for byte, builds its own consume queues, serves
//! reads; sync replication refuses sends when no slave is in sync.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ferromq_broker::{BrokerConfig, BrokerHandle, ReplicationMode};
use ferromq_client::{ClientError, Message, QueueId, QueueOffset, SendStatus};
use ferromq_protocol::header::HaStatusResponse;
use ferromq_protocol::record;
use ferromq_protocol::ResponseCode;
use ferromq_remoting::Connection;
use ferromq_store::MessageStore;
use ferromq_tests::stores::log_bytes;
use ferromq_tests::{producer, wait_for, TestCluster};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SEGMENT: u64 = 256 * 1024;

struct Slave {
    token: CancellationToken,
    handle: BrokerHandle,
    _dir: tempfile::TempDir,
}

impl Slave {
    async fn start(master: &TestCluster, master_ha: std::net::SocketAddr) -> Self {
        Self::start_with(master, master_ha, |_| {}).await
    }

    async fn start_with(
        master: &TestCluster,
        master_ha: std::net::SocketAddr,
        change: impl FnOnce(&mut BrokerConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::new(dir.path().join("store"));
        config.broker_id = 1;
        config.namesrv_addrs = vec![master.namesrv_addr().to_string()];
        config.register_interval = Duration::from_secs(1);
        config.store.segment_size = SEGMENT;
        config.store.disk_clean_ratio = 1.0;
        config.store.disk_force_clean_ratio = 1.0;
        config.store.disk_reject_ratio = 1.0;
        config.ha.ha_listen = Some("127.0.0.1:0".into());
        config.ha.master_addr = Some(master_ha.to_string());
        change(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let token = CancellationToken::new();
        let handle = ferromq_broker::start(config, listener, token.clone())
            .await
            .unwrap();
        Self {
            token,
            handle,
            _dir: dir,
        }
    }

    fn store(&self) -> &Arc<MessageStore> {
        self.handle.store()
    }

    async fn stop(self) {
        self.token.cancel();
        self.handle.join().await.unwrap();
    }
}

/// Sends one message per body, in order, each acknowledged `Ok`.
async fn send_each(
    p: &ferromq_client::Producer,
    topic: &ferromq_client::TopicName,
    bodies: impl Iterator<Item = String>,
) {
    for body in bodies {
        let r = p.send(Message::new(topic.clone(), body)).await.unwrap();
        assert_eq!(r.status, SendStatus::Ok);
    }
}

/// Asserts that the broker at `addr` refuses a send to `topic` with
/// `NoPermission` (a slave's log is its master's).
async fn refuses_sends(addr: &str, topic: &ferromq_client::TopicName) {
    let conn = Connection::connect(addr, Duration::from_secs(5))
        .await
        .unwrap();
    let one = ferromq_tests::encode_records(&[Message::new(topic.clone(), "direct")]);
    let refused = ferromq_tests::raw_send(&conn, topic, one, 1)
        .await
        .unwrap_err();
    assert_eq!(
        refused.response_code(),
        Some(ResponseCode::NoPermission),
        "{refused}"
    );
}

async fn caught_up(master: &MessageStore, slave: &MessageStore) {
    let end = master.flushed_end();
    wait_for("the slave to catch up", Duration::from_secs(20), || async {
        (slave.flushed_end() >= end).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_copies_the_log_byte_for_byte_and_serves_reads() {
    let master = TestCluster::start_with(|b| b.store.segment_size = SEGMENT).await;
    let ha = master.ha_addr();
    let topic = master.create_topic("Replicated", 4).await;
    let p = producer(master.namesrv_addr());
    // Some before the slave exists, some while it follows; several
    // segments' worth.
    send_each(
        &p,
        &topic,
        (0..600).map(|i| format!("before-{i:04}-{}", "x".repeat(400))),
    )
    .await;
    let slave = Slave::start(&master, ha).await;
    send_each(
        &p,
        &topic,
        (0..600).map(|i| format!("after-{i:04}-{}", "y".repeat(400))),
    )
    .await;
    let (m, s) = (master.store(), slave.store().clone());
    caught_up(&m, &s).await;
    let end = m.flushed_end().get();
    assert!(end > 2 * SEGMENT, "the log spans several segments: {end}");
    assert_eq!(s.log_end().get(), end);
    assert_eq!(log_bytes(&s, end), log_bytes(&m, end), "byte for byte");

    // The slave's own consume queues: same offsets, same messages.
    let mut total = 0;
    for q in 0..4 {
        let q = QueueId::new(q);
        assert_eq!(s.max_offset(&topic, q), m.max_offset(&topic, q));
        let read = s
            .read(&topic, q, QueueOffset::new(0), 10_000, u32::MAX)
            .unwrap();
        let msgs = record::decode_all(&read.records.into_bytes()).unwrap();
        let expect = m.max_offset(&topic, q).get() as usize;
        assert_eq!(msgs.len(), expect);
        total += msgs.len();
    }
    assert_eq!(total, 1200);

    // The master's view of its slave (what `mqadmin haStatus` prints).
    let admin = ferromq_client::AdminClient::new(
        ferromq_client::MqClient::connect(master.namesrv_addr()).unwrap(),
    );
    let st: HaStatusResponse = admin.ha_status(master.broker_addr()).await.unwrap();
    assert_eq!(st.slaves.len(), 1);
    assert_eq!(st.slaves[0].broker_id, 1);
    assert_eq!(st.slaves[0].addr, slave.handle.addr());
    assert!(st.slaves[0].in_sync, "{st:?}");
    assert_eq!(st.epoch, 1);
    // brokerStatus: role, epoch and the in-sync set on both.
    let mi = admin
        .broker_runtime_info(master.broker_addr())
        .await
        .unwrap();
    assert_eq!(
        (mi.role.as_str(), mi.epoch, mi.in_sync_replicas),
        ("master", 1, 2)
    );
    let si = admin
        .broker_runtime_info(slave.handle.addr())
        .await
        .unwrap();
    assert_eq!((si.role.as_str(), si.epoch, si.broker_id), ("slave", 1, 1));

    // A slave refuses sends: its log is its master's.
    refuses_sends(slave.handle.addr(), &topic).await;
    assert_eq!(s.log_end().get(), end, "nothing written on the slave");
    slave.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_replication_refuses_sends_without_an_in_sync_slave() {
    let master = TestCluster::start_with(|b| {
        b.store.segment_size = SEGMENT;
        b.ha.replication = ReplicationMode::Sync;
    })
    .await;
    let topic = master.create_topic("SyncRep", 2).await;
    let p = producer(master.namesrv_addr());
    let before = master.store().log_end();
    let e = p
        .send(Message::new(topic.clone(), "alone"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Server {
                code: ResponseCode::SlaveNotAvailable,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        master.store().log_end(),
        before,
        "nothing stored on one copy"
    );

    let slave = Slave::start(&master, master.ha_addr()).await;
    let sent = wait_for("a send to be replicated", Duration::from_secs(20), || {
        let p = &p;
        let topic = topic.clone();
        async move { p.send(Message::new(topic, "replicated")).await.ok() }
    })
    .await;
    assert_eq!(sent.status, SendStatus::Ok);
    let end = master.store().flushed_end();
    assert!(
        slave.store().flushed_end() >= end,
        "acknowledged only once the slave has it"
    );
    let at = sent.msg_id.offset();
    assert!(slave.store().read_raw(at, 1).is_ok());
    slave.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_offsets_reach_the_slave_within_two_seconds() {
    use ferromq_protocol::header::{
        GetMaxOffsetRequest, OffsetEntry, QueryConsumerOffsetRequest, UpdateConsumerOffsetRequest,
    };
    use ferromq_protocol::GroupName;

    let master = TestCluster::start_with(|b| b.store.segment_size = SEGMENT).await;
    let slave = Slave::start(&master, master.ha_addr()).await;
    let sconn = Connection::connect(slave.handle.addr(), Duration::from_secs(5))
        .await
        .unwrap();
    let mconn = Connection::connect(master.broker_addr(), Duration::from_secs(5))
        .await
        .unwrap();
    let rpc = Duration::from_secs(5);

    // A topic created on the master, with messages.
    let topic = master.create_topic("Meta", 2).await;
    let p = producer(master.namesrv_addr());
    send_each(&p, &topic, (0..10).map(|i| format!("m{i}"))).await;
    let group = GroupName::new("meta-group").unwrap();
    let commit = UpdateConsumerOffsetRequest {
        consumer_group: group.clone(),
        offsets: vec![OffsetEntry {
            topic: topic.clone(),
            queue_id: QueueId::new(1),
            offset: QueueOffset::new(3),
        }],
    };
    mconn.call(&commit, bytes::Bytes::new(), rpc).await.unwrap();

    // On the slave within 2 s: the topic (its queue answers), the offset.
    let max_q1 = master.store().max_offset(&topic, QueueId::new(1));
    wait_for(
        "the topic and offset on the slave",
        Duration::from_secs(2),
        || {
            let (sconn, topic, group) = (&sconn, topic.clone(), group.clone());
            async move {
                let max = sconn
                    .call(
                        &GetMaxOffsetRequest {
                            topic: topic.clone(),
                            queue_id: QueueId::new(1),
                        },
                        bytes::Bytes::new(),
                        rpc,
                    )
                    .await
                    .ok()?
                    .header
                    .offset;
                let committed = sconn
                    .call(
                        &QueryConsumerOffsetRequest {
                            consumer_group: group,
                            topic,
                            queue_id: QueueId::new(1),
                        },
                        bytes::Bytes::new(),
                        rpc,
                    )
                    .await
                    .ok()?
                    .header
                    .offset?;
                (max == max_q1 && committed == QueueOffset::new(3)).then_some(())
            }
        },
    )
    .await;
    slave.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_ha_port_is_refused_and_the_master_keeps_serving() {
    use ferromq_protocol::header::{EpochStart, HaFetch, HaHandshake};
    use ferromq_protocol::{BrokerName, ClusterName};
    use tokio::io::AsyncWriteExt;

    let master = TestCluster::start_with(|b| b.store.segment_size = SEGMENT).await;
    let ha = master.ha_addr();
    let topic = master.create_topic("HaBad", 1).await;
    let p = producer(master.namesrv_addr());
    p.send(Message::new(topic.clone(), "one")).await.unwrap();
    let rpc = Duration::from_secs(5);
    let hello = |id: u64, segment_size: u64, log_end: u64| HaHandshake {
        cluster: ClusterName::new("DefaultCluster").unwrap(),
        broker_name: BrokerName::new("broker-a").unwrap(),
        broker_id: id,
        addr: "127.0.0.1:1".into(),
        segment_size,
        log_end,
        epochs: vec![EpochStart {
            epoch: 1,
            start_offset: 0,
        }],
    };
    let code = |e: ferromq_remoting::RemotingError| e.response_code();

    // Garbage closes only that connection.
    let mut raw = tokio::net::TcpStream::connect(ha).await.unwrap();
    raw.write_all(b"\x00\x00\x00\x10garbage-garbage!")
        .await
        .unwrap();
    let conn = Connection::connect(&ha.to_string(), rpc).await.unwrap();

    // Another group, another segment size, id 0: refused.
    let mut other = hello(1, SEGMENT, 0);
    other.broker_name = BrokerName::new("broker-b").unwrap();
    let e = conn
        .call(&other, bytes::Bytes::new(), rpc)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(ResponseCode::BadRequest));
    let e = conn
        .call(&hello(1, SEGMENT * 2, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(ResponseCode::BadRequest));
    let e = conn
        .call(&hello(0, SEGMENT, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(ResponseCode::BadRequest));

    // A fetch of a session nobody started, and one beyond the master's end.
    let fetch = |session, offset| HaFetch {
        session,
        offset,
        flushed: 0,
        max_bytes: 1 << 20,
        hold_ms: 0,
    };
    let e = conn
        .call(&fetch(999, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(ResponseCode::BadRequest));
    let ok = conn
        .call(&hello(1, SEGMENT, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap()
        .header;
    let end = master.store().flushed_end().get();
    let e = conn
        .call(&fetch(ok.session, end + 4096), bytes::Bytes::new(), rpc)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(ResponseCode::BadRequest));

    // A second session for a slave id that is fetching.
    conn.call(&fetch(ok.session, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap();
    let e = conn
        .call(&hello(1, SEGMENT, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(ResponseCode::BadRequest));

    // The master still serves producers and the good session.
    p.send(Message::new(topic.clone(), "two")).await.unwrap();
    let got = conn
        .call(&fetch(ok.session, 0), bytes::Bytes::new(), rpc)
        .await
        .unwrap();
    assert_eq!(got.header.offset, 0);
    assert!(!got.body.is_empty());
    let msgs = record::decode_all(&got.body).unwrap();
    assert_eq!(msgs.len(), 2, "both messages served from offset 0");
}

/// The committed offset of `group` on `topic`'s queue `q` at `conn`'s
/// broker.
async fn committed_at(
    conn: &Connection,
    group: &ferromq_protocol::GroupName,
    topic: &ferromq_client::TopicName,
    q: u32,
) -> Option<QueueOffset> {
    use ferromq_protocol::header::QueryConsumerOffsetRequest;
    let req = QueryConsumerOffsetRequest {
        consumer_group: group.clone(),
        topic: topic.clone(),
        queue_id: QueueId::new(q),
    };
    conn.call(&req, bytes::Bytes::new(), Duration::from_secs(5))
        .await
        .ok()?
        .header
        .offset
}

async fn commit_at(
    conn: &Connection,
    group: &ferromq_protocol::GroupName,
    topic: &ferromq_client::TopicName,
    q: u32,
    offset: u64,
) {
    use ferromq_protocol::header::{OffsetEntry, UpdateConsumerOffsetRequest};
    let req = UpdateConsumerOffsetRequest {
        consumer_group: group.clone(),
        offsets: vec![OffsetEntry {
            topic: topic.clone(),
            queue_id: QueueId::new(q),
            offset: QueueOffset::new(offset),
        }],
    };
    conn.call(&req, bytes::Bytes::new(), Duration::from_secs(5))
        .await
        .unwrap();
}

/// Waits until `conn`'s broker holds `offset` for the group on queue `q`.
async fn wait_committed(
    conn: &Connection,
    group: &ferromq_protocol::GroupName,
    topic: &ferromq_client::TopicName,
    q: u32,
    offset: u64,
    what: &str,
    timeout: Duration,
) {
    wait_for(what, timeout, || async {
        (committed_at(conn, group, topic, q).await == Some(QueueOffset::new(offset))).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_on_a_slave_reach_the_master_which_keeps_the_larger() {
    let master = TestCluster::start_with(|b| b.store.segment_size = SEGMENT).await;
    let slave = Slave::start(&master, master.ha_addr()).await;
    let connect = |addr: String| async move {
        Connection::connect(&addr, Duration::from_secs(5))
            .await
            .unwrap()
    };
    let mconn = connect(master.broker_addr().to_string()).await;
    let sconn = connect(slave.handle.addr().to_string()).await;
    let topic = master.create_topic("Merged", 2).await;
    let group = ferromq_protocol::GroupName::new("merged-group").unwrap();
    commit_at(&mconn, &group, &topic, 0, 5).await;
    wait_committed(
        &sconn,
        &group,
        &topic,
        0,
        5,
        "the master's offset on the slave",
        Duration::from_secs(2),
    )
    .await;

    // A consumer on the slave (its master away) moves queue 1 to 7 and
    // commits an older position of queue 0.
    commit_at(&sconn, &group, &topic, 1, 7).await;
    commit_at(&sconn, &group, &topic, 0, 2).await;
    wait_committed(
        &mconn,
        &group,
        &topic,
        1,
        7,
        "the master to take the slave's larger offset",
        Duration::from_secs(3),
    )
    .await;
    // The master kept its larger offset of queue 0, and the slave follows
    // it again; the slave's 7 was never overwritten by an older value.
    wait_committed(
        &sconn,
        &group,
        &topic,
        0,
        5,
        "the slave to follow queue 0 again",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        committed_at(&mconn, &group, &topic, 0).await,
        Some(QueueOffset::new(5))
    );
    assert_eq!(
        committed_at(&sconn, &group, &topic, 1).await,
        Some(QueueOffset::new(7))
    );

    // Admin writes belong on the master: a slave refuses them, changing
    // nothing.
    let admin = ferromq_client::AdminClient::new(
        ferromq_client::MqClient::connect(master.namesrv_addr()).unwrap(),
    );
    let other = ferromq_client::TopicName::new("OnlyOnSlave").unwrap();
    let refused = admin
        .create_topic_on_broker(
            slave.handle.addr(),
            &other,
            4,
            4,
            ferromq_client::PERM_READ_WRITE,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ClientError::Server { code: ResponseCode::NoPermission, message, .. } if message.contains("slave")),
        "{refused}"
    );
    let si = admin
        .broker_runtime_info(slave.handle.addr())
        .await
        .unwrap();
    let mi = admin
        .broker_runtime_info(master.broker_addr())
        .await
        .unwrap();
    assert_eq!(
        si.topics, mi.topics,
        "the slave holds the master's topics only"
    );
    slave.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_slave_takes_over_and_the_old_master_follows_it() {
    use ferromq_client::{AdminClient, MqClient, PromoteOptions};

    let master = TestCluster::start_with(|b| b.store.segment_size = SEGMENT).await;
    let slave = Slave::start(&master, master.ha_addr()).await;
    let topic = master.create_topic("Promoted", 4).await;
    let p = producer(master.namesrv_addr());
    send_each(&p, &topic, (0..300).map(|i| format!("before-{i:04}"))).await;
    let (m, s) = (master.store(), slave.store().clone());
    caught_up(&m, &s).await;
    let end_before = m.log_end().get();

    let admin = AdminClient::new(MqClient::connect(master.namesrv_addr()).unwrap());
    wait_for("the slave registered", Duration::from_secs(10), || async {
        let addrs = admin
            .broker_addrs(&ferromq_client::BrokerName::new("broker-a").unwrap())
            .await
            .ok()?;
        (addrs.len() == 2).then_some(())
    })
    .await;
    let done = admin
        .promote_slave(slave.handle.addr(), &PromoteOptions::default())
        .await
        .unwrap();
    assert_eq!(done.new_master, slave.handle.addr());
    assert_eq!(done.epoch, 2, "{done:?}");
    assert_eq!(
        done.epoch_start, end_before,
        "the new epoch starts at the log end"
    );
    assert_eq!(done.old_master.as_deref(), Some(master.broker_addr()));
    assert_eq!(done.old_master_end, Some(end_before));
    assert!(done.unreachable.is_empty(), "{done:?}");

    let si = admin
        .broker_runtime_info(slave.handle.addr())
        .await
        .unwrap();
    assert_eq!((si.role.as_str(), si.broker_id, si.epoch), ("master", 0, 2));
    let mi = admin
        .broker_runtime_info(master.broker_addr())
        .await
        .unwrap();
    assert_eq!((mi.role.as_str(), mi.broker_id), ("slave", 1));
    // The old master refuses sends now.
    refuses_sends(master.broker_addr(), &topic).await;

    // Producers follow the NameServers to the new master; the old one
    // copies the new epoch from it.
    wait_for(
        "the route to name the new master",
        Duration::from_secs(10),
        || async {
            let route = admin.topic_route(&topic).await.ok()?;
            let b = route.broker_datas.first()?;
            (b.addrs.get(&0).map(String::as_str) == Some(slave.handle.addr())).then_some(())
        },
    )
    .await;
    let p2 = producer(master.namesrv_addr());
    send_each(&p2, &topic, (0..200).map(|i| format!("after-{i:04}"))).await;
    let new_end = s.flushed_end();
    wait_for(
        "the old master to follow",
        Duration::from_secs(20),
        || async { (m.flushed_end() >= new_end).then_some(()) },
    )
    .await;
    let end = new_end.get();
    assert_eq!(m.log_end().get(), end);
    assert_eq!(log_bytes(&m, end), log_bytes(&s, end), "byte for byte");
    let epochs: Vec<(u32, u64)> = m
        .epochs()
        .iter()
        .map(|e| (e.epoch, e.start.get()))
        .collect();
    assert_eq!(epochs.last(), Some(&(2, end_before)), "{epochs:?}");
    // A group's messages: 500, every one once, on both.
    let mut total = 0;
    for q in 0..4 {
        let q = QueueId::new(q);
        assert_eq!(m.max_offset(&topic, q), s.max_offset(&topic, q));
        total += s.max_offset(&topic, q).get();
    }
    assert_eq!(total, 500);
    slave.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_slave_read_enable_a_consumer_far_behind_reads_from_the_slave() {
    use ferromq_client::{AdminClient, ConsumeFrom, MqClient, PullConsumer};
    use ferromq_protocol::header::PullMessageRequest;

    const N: usize = 2000;
    let master = TestCluster::start_with(|b| {
        b.store.segment_size = SEGMENT;
        b.ha.slave_read_enable = true;
        b.ha.slave_read_lag_bytes = 64 << 10;
    })
    .await;
    // The group's brokers share their settings.
    let slave = Slave::start_with(&master, master.ha_addr(), |b| {
        b.ha.slave_read_enable = true;
        b.ha.slave_read_lag_bytes = 64 << 10;
    })
    .await;
    let topic = master.create_topic("FarBehind", 1).await;
    let p = producer(master.namesrv_addr());
    send_each(
        &p,
        &topic,
        (0..N).map(|i| format!("{i:05}-{}", "b".repeat(1000))),
    )
    .await;
    let (m, s) = (master.store(), slave.store().clone());
    caught_up(&m, &s).await;
    let admin = AdminClient::new(MqClient::connect(master.namesrv_addr()).unwrap());
    wait_for("the slave in sync", Duration::from_secs(10), || async {
        let st = admin.ha_status(master.broker_addr()).await.ok()?;
        st.slaves.first().filter(|s| s.in_sync).map(|_| ())
    })
    .await;

    // The master's answer: far behind, read from slave 1; near the end,
    // from the master.
    let conn = Connection::connect(master.broker_addr(), Duration::from_secs(5))
        .await
        .unwrap();
    let pull = |offset: u64| PullMessageRequest {
        consumer_group: ferromq_protocol::GroupName::new("far-behind").unwrap(),
        topic: topic.clone(),
        queue_id: QueueId::new(0),
        queue_offset: QueueOffset::new(offset),
        max_messages: 8,
        max_bytes: 1 << 20,
        hold_ms: 0,
        expression: None,
    };
    let rpc = Duration::from_secs(5);
    let far = conn.call(&pull(0), bytes::Bytes::new(), rpc).await.unwrap();
    assert_eq!(far.header.suggest_which_broker_id, 1);
    let near = conn
        .call(&pull(N as u64 - 8), bytes::Bytes::new(), rpc)
        .await
        .unwrap();
    assert_eq!(near.header.suggest_which_broker_id, 0);

    // A consumer follows the suggestions: most of the backlog from the
    // slave, the tail and what comes next from the master.
    let gets = |addr: String| {
        let admin = admin.clone();
        async move { admin.broker_runtime_info(&addr).await.unwrap().get_total }
    };
    let (m0, s0) = (
        gets(master.broker_addr().to_string()).await,
        gets(slave.handle.addr().to_string()).await,
    );
    let reader = PullConsumer::builder()
        .namesrv_addr(master.namesrv_addr())
        .group("far-behind")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    reader.subscribe(&topic).await.unwrap();
    let seen = parking_lot::Mutex::new(Vec::new());
    wait_for("the backlog read", Duration::from_secs(30), || {
        let (reader, seen) = (&reader, &seen);
        async move {
            let got = reader.poll(Duration::from_millis(200)).await.ok()?;
            let mut seen = seen.lock();
            seen.extend(got.iter().map(|m| m.queue_offset.get()));
            (seen.len() >= N).then_some(())
        }
    })
    .await;
    let seen = seen.into_inner();
    reader.shutdown().await;
    assert_eq!(
        seen,
        (0..N as u64).collect::<Vec<_>>(),
        "each once, in order"
    );
    let from_slave = gets(slave.handle.addr().to_string()).await - s0;
    let from_master = gets(master.broker_addr().to_string()).await - m0;
    assert!(
        from_slave as usize >= N / 2,
        "most of the backlog came from the slave: {from_slave} (master {from_master})"
    );
    assert!(
        from_master > 0,
        "the first pull and the tail came from the master"
    );
    slave.stop().await;
}
