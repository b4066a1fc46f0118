//! Manual promotion across namespace hosts: a NameServer on host A, a
//! master on B, slaves on C and D that find their master through the
//! NameServer. Slave D falls behind (cut from the master), slave C is cut
//! off, the master dies, and D is promoted: C holds bytes its new master
//! never had. When C's path heals it truncates them and then holds exactly
//! D's log; so does the old master when it restarts (it steps down by
//! itself, finding the newer master through the NameServer).
//!
//! Needs root and iproute2; `FERROMQ_NETNS=skip` skips these tests. Run
//! `cargo build -p ferromq-broker -p ferromq-nameserver --bins` first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use ferromq_client::{
    AdminClient, Message, MqClient, Producer, PromoteOptions, SendStatus, TopicName,
    PERM_READ_WRITE,
};
use ferromq_tests::ha_status;
use ferromq_tests::hosts::{Host, Net};
use ferromq_tests::multi::FAST_EXPIRY;
use ferromq_tests::stores::{close_store, log_bytes, open_store};
use ferromq_tests::{wait_for, wait_registered, BrokerProcess, NameServerProcess};
use tempfile::TempDir;

const NAMESRV_PORT: u16 = 9876;
const BROKER_PORT: u16 = 10911;
const QUEUES: u32 = 4;

/// Waits until `master` reports slave `id` with its flush at `end` or past.
async fn slave_reaches(master: &str, id: u64, end: u64) {
    wait_for(
        &format!("slave {id} of {master} to reach {end}"),
        Duration::from_secs(30),
        || async {
            ha_status(master)
                .await?
                .slaves
                .into_iter()
                .find(|s| s.broker_id == id && s.flushed >= end)
        },
    )
    .await;
}

async fn log_end(broker: &str) -> u64 {
    AdminClient::new(MqClient::connect("127.0.0.1:1").unwrap())
        .broker_runtime_info(broker)
        .await
        .unwrap()
        .commit_log_max_offset
}

async fn send_n(p: &Producer, topic: &TopicName, prefix: &str, n: usize) {
    for i in 0..n {
        let r = p
            .send(Message::new(
                topic.clone(),
                format!("{prefix}-{i:04}-{}", "d".repeat(300)),
            ))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::Ok, "{prefix} {i}");
    }
}

/// Every log byte of a stopped broker's store, and its epochs.
async fn log_of(dir: &Path) -> (Vec<u8>, Vec<(u32, u64)>) {
    let s = open_store(dir).await;
    let bytes = log_bytes(&s, s.log_end().get());
    let epochs = s
        .epochs()
        .iter()
        .map(|e| (e.epoch, e.start.get()))
        .collect();
    close_store(s).await;
    (bytes, epochs)
}

fn broker(host: &Host, dir: &TempDir, namesrv: &str, id: u64) -> BrokerProcess {
    let id = id.to_string();
    BrokerProcess::start_clustered_in(
        host,
        BROKER_PORT,
        dir.path(),
        "broker-a",
        namesrv,
        &["--register-interval-ms", "1000", "--broker-id", &id],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_slave_truncates_to_the_promoted_master() {
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let started = Instant::now();
    let (a, b, c, d) = (
        net.host("ns"),
        net.host("m"),
        net.host("s1"),
        net.host("s2"),
    );
    let namesrv = NameServerProcess::start_in(&a, NAMESRV_PORT, FAST_EXPIRY);
    let ns = namesrv.addr().to_string();
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut master = broker(&b, &dirs[0], &ns, 0);
    wait_registered(&ns, master.broker_addr()).await;
    let mut s1 = broker(&c, &dirs[1], &ns, 1);
    let mut s2 = broker(&d, &dirs[2], &ns, 2);
    let (m_addr, s1_addr, s2_addr) = (
        b.addr(BROKER_PORT),
        c.addr(BROKER_PORT),
        d.addr(BROKER_PORT),
    );

    let admin = AdminClient::connect(&ns).unwrap();
    let topic = TopicName::new("Diverge").unwrap();
    admin
        .create_topic_on_broker(&m_addr, &topic, QUEUES, QUEUES, PERM_READ_WRITE)
        .await
        .unwrap();
    ferromq_tests::wait_for_route(&admin, &topic, QUEUES).await;
    let p = Producer::builder()
        .namesrv_addr(&ns)
        .group("promotion-producer")
        .send_timeout(Duration::from_secs(3))
        .build()
        .unwrap();

    // Both slaves have the first part.
    send_n(&p, &topic, "one", 200).await;
    let end1 = log_end(&m_addr).await;
    slave_reaches(&m_addr, 1, end1).await;
    slave_reaches(&m_addr, 2, end1).await;

    // D falls behind; C gets the second part.
    d.cut_from(&b);
    send_n(&p, &topic, "two", 200).await;
    let end2 = log_end(&m_addr).await;
    assert!(end2 > end1);
    slave_reaches(&m_addr, 1, end2).await;

    // C is cut off from the others, the master dies, D is promoted.
    c.cut_from(&b);
    c.cut_from(&d);
    master.kill9();
    assert_eq!(log_end(&s2_addr).await, end1, "D never got the second part");
    let done = admin
        .promote_slave(&s2_addr, &PromoteOptions::default())
        .await
        .unwrap();
    assert_eq!((done.epoch, done.epoch_start), (2, end1), "{done:?}");
    assert!(
        done.old_master.is_none(),
        "the dead master was not demoted: {done:?}"
    );
    assert_eq!(
        done.repointed,
        vec![s1_addr.clone()],
        "C is told about D, though it cannot reach it"
    );

    // The new master takes sends in its epoch.
    wait_for(
        "the route to name D as master",
        Duration::from_secs(15),
        || async {
            let route = admin.topic_route(&topic).await.ok()?;
            let addrs = &route.broker_datas.first()?.addrs;
            (addrs.get(&0) == Some(&s2_addr)).then_some(())
        },
    )
    .await;
    let p2 = Producer::builder()
        .namesrv_addr(&ns)
        .group("promotion-producer-2")
        .send_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    send_n(&p2, &topic, "three", 100).await;
    let end3 = log_end(&s2_addr).await;
    assert!(end3 > end1);

    // C's path heals: it truncates the second part and copies the third.
    c.heal_from(&d);
    slave_reaches(&s2_addr, 1, end3).await;
    assert_eq!(log_end(&s1_addr).await, end3, "C holds exactly D's log end");

    // The old master comes back, finds D and steps down.
    b.heal_from(&d);
    b.heal_from(&c);
    let m_args = ["--register-interval-ms", "1000", "--broker-id", "0"];
    master = BrokerProcess::start_clustered_in(
        &b,
        BROKER_PORT,
        dirs[0].path(),
        "broker-a",
        &ns,
        &m_args,
    );
    let stepped = wait_for(
        "the old master to step down",
        Duration::from_secs(30),
        || async {
            let info = admin.broker_runtime_info(&m_addr).await.ok()?;
            (info.role == "slave").then_some(info)
        },
    )
    .await;
    assert_eq!(stepped.broker_id, 2, "the id D left free");
    slave_reaches(&s2_addr, 2, end3).await;

    assert!(
        s1.terminate() && s2.terminate() && master.terminate(),
        "clean exits"
    );
    let (d_log, d_epochs) = log_of(dirs[2].path()).await;
    let (c_log, c_epochs) = log_of(dirs[1].path()).await;
    let (m_log, m_epochs) = log_of(dirs[0].path()).await;
    assert_eq!(d_log.len() as u64, end3);
    assert!(c_log == d_log, "C's log is D's, byte for byte");
    assert!(m_log == d_log, "the old master's log is D's, byte for byte");
    assert_eq!(d_epochs, [(1, 0), (2, end1)]);
    assert_eq!(c_epochs, d_epochs);
    assert_eq!(m_epochs, d_epochs);
    println!(
        "ends: first part {end1}, second (lost with the old master) {end2}, new epoch to {end3}; \
         took {:?}",
        started.elapsed()
    );
    drop((a, b, c, d, namesrv));
}
