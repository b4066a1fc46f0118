//! A new slave with an empty store catches up a 1 GiB backlog: the master
//! (in this process, so the test knows its HA port on port 0) has the
//! backlog before the slave (the real `mqbroker` binary) starts. Once
//! caught up the slave's log is the master's, byte for byte; stopped and
//! started again, it resumes where its log ends and the master sends it
//! only what it lacks.
//!
//! The backlog is written as 1 MiB messages, three to a send, so that a
//! debug build writes it in about 350 requests. Needs
//! `cargo build -p ferromq-broker --bins` first (as `cargo test
//! --workspace` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use ferromq_client::{AdminClient, CommitLogOffset, Message, MqClient, Producer, TopicName};
use ferromq_protocol::header::SlaveStatus;
use ferromq_store::{FlushMode, MessageStore, MAX_REPLICATED_CHUNK};
use ferromq_tests::stores::open_store;
use ferromq_tests::{wait_for, BrokerProcess, TestCluster, TEST_SEGMENT_SIZE};

/// Log bytes the backlog holds at least.
const BACKLOG: u64 = 1 << 30;
/// Body of every message.
const BODY: usize = 1 << 20;
/// Messages per send: three 1 MiB bodies stay under the 4 MiB batch limit.
const PER_SEND: usize = 3;
/// Sends in flight while the backlog is written.
const SENDERS: usize = 4;
const SLAVE_ID: u64 = 1;

/// What the master says about its slave, `None` until it has one.
async fn slave_status(admin: &AdminClient, master: &str) -> Option<SlaveStatus> {
    admin
        .ha_status(master)
        .await
        .ok()?
        .slaves
        .into_iter()
        .find(|s| s.broker_id == SLAVE_ID)
}

/// Sends messages `first..first + count` of [`BODY`] bytes, [`PER_SEND`]
/// to a request with [`SENDERS`] requests in flight.
async fn write_messages(p: &Arc<Producer>, topic: &TopicName, first: usize, count: usize) {
    let last = first + count;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..SENDERS {
        let (p, topic) = (p.clone(), topic.clone());
        tasks.spawn(async move {
            // Sender k takes sends k, k + SENDERS, k + 2 * SENDERS, ...
            let sends = (first..last).step_by(PER_SEND).skip(k).step_by(SENDERS);
            for start in sends {
                let msgs = (start..(start + PER_SEND).min(last))
                    .map(|i| message(&topic, i))
                    .collect();
                p.send_batch(msgs).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// Message `i`: [`BODY`] bytes that start with its number, so no two are
/// alike.
fn message(topic: &TopicName, i: usize) -> Message {
    let mut body = vec![b'b'; BODY];
    let tag = format!("message {i:08}");
    body[..tag.len()].copy_from_slice(tag.as_bytes());
    Message::new(topic.clone(), body)
}

/// Bytes of the log from `from` to `to` as the master serves them to a
/// slave (records and end-of-segment markers).
fn served_bytes(store: &MessageStore, from: u64, to: u64) -> u64 {
    let mut at = CommitLogOffset::new(from);
    let mut n = 0;
    while at.get() < to {
        let (b, next) = store.read_raw(at, MAX_REPLICATED_CHUNK).unwrap();
        assert!(!b.is_empty(), "no bytes at {at} before {to}");
        n += b.len() as u64;
        at = next;
    }
    assert_eq!(at.get(), to);
    n
}

/// Compares both logs from their start to `end`, a replication chunk at a
/// time, as `read_raw` serves them (records and end-of-segment markers);
/// returns the bytes compared.
fn compare_logs(master: &MessageStore, slave: &MessageStore, end: u64) -> u64 {
    let start = master.commit_log_min_offset();
    assert_eq!(
        slave.commit_log_min_offset(),
        start,
        "both logs start alike"
    );
    let (mut at_m, mut at_s) = (start, start);
    let (mut m, mut s) = (Bytes::new(), Bytes::new());
    let mut compared = 0u64;
    loop {
        if m.is_empty() && at_m.get() < end {
            let (b, next) = master.read_raw(at_m, MAX_REPLICATED_CHUNK).unwrap();
            assert!(!b.is_empty(), "master: no bytes at {at_m} before {end}");
            (m, at_m) = (b, next);
        }
        if s.is_empty() && at_s.get() < end {
            let (b, next) = slave.read_raw(at_s, MAX_REPLICATED_CHUNK).unwrap();
            assert!(!b.is_empty(), "slave: no bytes at {at_s} before {end}");
            (s, at_s) = (b, next);
        }
        if m.is_empty() && s.is_empty() {
            break;
        }
        let n = m.len().min(s.len());
        assert!(
            n > 0,
            "one log ends before the other (master at {at_m}, slave at {at_s})"
        );
        assert!(
            m[..n] == s[..n],
            "the logs differ within the {n} bytes before master offset {at_m} (slave {at_s})"
        );
        m.advance(n);
        s.advance(n);
        compared += n as u64;
    }
    assert_eq!((at_m.get(), at_s.get()), (end, end));
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_slave_catches_up_a_1_gib_backlog_and_a_restarted_one_resumes() {
    let started = Instant::now();
    let master = TestCluster::start_with(|b| b.store.flush = FlushMode::Async).await;
    let ha = master.ha_addr().to_string();
    let topic = master.create_topic("Backlog", 4).await;
    let p = Arc::new(
        Producer::builder()
            .namesrv_addr(master.namesrv_addr())
            .group("catchup-producer")
            .send_timeout(Duration::from_secs(30))
            // The log holds the bodies as they are: 1 GiB of them.
            .compress_threshold(None)
            .build()
            .unwrap(),
    );
    let admin = AdminClient::new(MqClient::connect(master.namesrv_addr()).unwrap());
    let store = master.store();

    // The backlog, flushed (a master serves its slaves flushed bytes only).
    let messages = BACKLOG.div_ceil(BODY as u64) as usize;
    write_messages(&p, &topic, 0, messages).await;
    let end = store.log_end().get();
    assert!(end >= BACKLOG, "{end}");
    wait_for("the backlog's flush", Duration::from_secs(30), || async {
        (store.flushed_end().get() >= end).then_some(())
    })
    .await;
    let written = started.elapsed();

    // A slave with an empty store.
    let slave_dir = tempfile::tempdir().unwrap();
    let slave_args = ["--broker-id", "1", "--master-addr", &ha, "--flush", "async"];
    let t0 = Instant::now();
    let mut slave = BrokerProcess::start_clustered(
        slave_dir.path(),
        "broker-a",
        master.namesrv_addr(),
        &slave_args,
    );
    let caught_up = wait_for(
        "the slave to catch up the backlog",
        Duration::from_secs(180),
        || async {
            slave_status(&admin, master.broker_addr())
                .await
                .filter(|s| s.in_sync && s.flushed >= end)
        },
    )
    .await;
    let catch_up = t0.elapsed();
    assert_eq!(caught_up.offset, end, "{caught_up:?}");

    // Stopped, it misses what follows; started again, it is sent that
    // and nothing else.
    assert!(slave.terminate(), "the slave exits cleanly on SIGTERM");
    drop(slave);
    write_messages(&p, &topic, messages, 20).await;
    let end2 = store.log_end().get();
    wait_for("the flush of the rest", Duration::from_secs(30), || async {
        (store.flushed_end().get() >= end2).then_some(())
    })
    .await;
    assert!(
        end2 - end > TEST_SEGMENT_SIZE,
        "the rest crosses a segment's end"
    );
    let t1 = Instant::now();
    let mut slave = BrokerProcess::start_clustered(
        slave_dir.path(),
        "broker-a",
        master.namesrv_addr(),
        &slave_args,
    );
    let resumed = wait_for(
        "the restarted slave to catch up",
        Duration::from_secs(120),
        || async {
            slave_status(&admin, master.broker_addr())
                .await
                .filter(|s| s.in_sync && s.flushed >= end2)
        },
    )
    .await;
    let resume = t1.elapsed();
    assert!(slave.terminate(), "the slave exits cleanly on SIGTERM");
    drop(slave);

    // What the slave lacked after the restart: the master's log from the
    // slave's end on, as the master serves it (offsets also skip the
    // unused ends of segments, which are not sent).
    let s2 = store.clone();
    let lacked = tokio::task::spawn_blocking(move || served_bytes(&s2, end, end2))
        .await
        .unwrap();
    assert_eq!(
        resumed.bytes_sent, lacked,
        "the restarted slave is sent what it lacked, nothing twice: {resumed:?}"
    );

    // The slave's log is the master's, byte for byte, and no longer.
    let slave_store = open_store(slave_dir.path()).await;
    assert_eq!(slave_store.log_end().get(), end2);
    let (m, s) = (store.clone(), slave_store.clone());
    let compared = tokio::task::spawn_blocking(move || compare_logs(&m, &s, end2))
        .await
        .unwrap();
    assert_eq!(
        caught_up.bytes_sent + resumed.bytes_sent,
        compared,
        "every byte of the log sent once: {caught_up:?}, after the restart {resumed:?}"
    );
    tokio::task::spawn_blocking(move || slave_store.shutdown_blocking())
        .await
        .unwrap()
        .unwrap();
    println!(
        "backlog {end} bytes written in {written:?}; caught up in {catch_up:?} ({:.0} MB/s); \
         {lacked} bytes more resumed in {resume:?}; {compared} log bytes compared; took {:?}",
        end as f64 / catch_up.as_secs_f64() / 1e6,
        started.elapsed()
    );
}
