//! A slave copies its master's log through `read_raw` and
//! `append_replicated`, across segment rolls: the same bytes at the same
//! offsets, and its own consume queues and index built from them.

use ferromq_protocol::{CommitLogOffset, QueueId};

use super::*;
use crate::AppendError;

const TOPICS: [&str; 2] = ["RepA", "RepB"];
const QUEUES: u32 = 3;

/// Fills the master: several queues, batches and keyed records, several
/// 64 KiB segments.
async fn fill(master: &MessageStore, from: u64, n: u64) {
    for t in TOPICS {
        for q in 0..QUEUES {
            append_batches(master, t, q, from, n).await;
        }
    }
    let tn = topic("RepKeys");
    for i in from..from + n / 4 {
        let msgs = vec![(
            body("RepKeys", 0, i),
            vec![format!("k{}", i % 7)],
            Some(format!("uniq-{i}")),
        )];
        let (buf, count) = encode_keyed(&tn, &msgs);
        master
            .append(&tn, QueueId::new(0), buf, count)
            .await
            .unwrap();
    }
}

/// The slave holds exactly the master's log, queues and keys.
fn assert_same(master: &MessageStore, slave: &MessageStore) {
    assert_eq!(slave.log_end(), master.log_end());
    // `read_raw` serves flushed bytes (an async slave flushes on a timer).
    wait_for("the slave's flush", || {
        slave.flushed_end() == slave.log_end()
    });
    let (s, m) = (raw_log(slave), raw_log(master));
    let differ = s.iter().zip(&m).position(|(a, b)| a != b);
    assert!(
        s.len() == m.len() && differ.is_none(),
        "same bytes at the same offsets: {} and {} bytes, first difference at {differ:?}",
        s.len(),
        m.len()
    );
    for t in TOPICS.into_iter().chain(["RepKeys"]) {
        let tn = topic(t);
        assert_eq!(slave.queue_ids(&tn), master.queue_ids(&tn), "{t}");
        for q in master.queue_ids(&tn) {
            assert_eq!(
                slave.max_offset(&tn, q),
                master.max_offset(&tn, q),
                "{t}/{q}"
            );
            assert_eq!(
                slave.min_offset(&tn, q),
                master.min_offset(&tn, q),
                "{t}/{q}"
            );
            assert_eq!(
                read_all(slave, t, q.get()),
                read_all(master, t, q.get()),
                "{t}/{q}"
            );
        }
    }
    let keys = topic("RepKeys");
    for k in 0..7 {
        let key = format!("k{k}");
        let m = master.query_by_key(&keys, &key, 1000, 0, u64::MAX).unwrap();
        let s = slave.query_by_key(&keys, &key, 1000, 0, u64::MAX).unwrap();
        assert!(!m.is_empty());
        assert_eq!(s, m, "key {key}");
    }
    let u = slave.query_by_unique_id(&keys, "uniq-3").unwrap();
    assert_eq!(u, master.query_by_unique_id(&keys, "uniq-3").unwrap());
    assert!(u.is_some());
    assert_consistent(slave);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_holds_the_masters_log_queues_and_keys() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, arrivals) = open_slave(sdir.path(), FlushMode::Sync);
    master.begin_epoch(1, CommitLogOffset::new(0)).unwrap();
    fill(&master, 0, 60).await;
    assert!(master.log_end().get() > 2 * 64 * 1024, "several segments");

    // Small chunks: many end inside a segment, some at a marker.
    let chunks = replicate(&master, &slave, 3000).await;
    assert!(chunks > 50);
    assert_same(&master, &slave);
    // The arrival listener heard of them as of any append.
    assert_eq!(arrivals.last("RepA", 2), 60);
    assert_eq!(slave.stats().flushed_offset, slave.log_end().get());

    // More on the master, copied in big chunks: the slave resumes at
    // its end.
    fill(&master, 60, 40).await;
    replicate(&master, &slave, 1 << 20).await;
    assert_same(&master, &slave);

    // A crash of the slave loses nothing it acknowledged; it goes on.
    slave.crash();
    drop(slave);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    assert_same(&master, &slave);
    fill(&master, 100, 8).await;
    replicate(&master, &slave, 10_000).await;
    assert_same(&master, &slave);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_slave_builds_the_same_queues() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Async);
    fill(&master, 0, 40).await;
    replicate(&master, &slave, 7000).await;
    assert_same(&master, &slave);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_slave_numbers_every_queue_on() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    fill(&master, 0, 20).await;
    replicate(&master, &slave, 5000).await;
    master.shutdown().await.unwrap();

    slave.set_role(StoreRole::Master);
    slave.begin_epoch(2, slave.log_end()).unwrap();
    for t in TOPICS {
        for q in 0..QUEUES {
            // `append_batches` checks the queue offsets go on from 20.
            append_batches(&slave, t, q, 20, 5).await;
            assert_queue(&slave, t, q, 25);
        }
    }
    // And the other way back.
    slave.set_role(StoreRole::Slave);
    let t = topic("RepA");
    let (buf, n) = encode(&t, &[body("RepA", 0, 25)]);
    assert!(matches!(
        slave.append(&t, QueueId::new(0), buf, n).await,
        Err(AppendError::WrongRole(StoreRole::Slave))
    ));
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_or_one_marker_per_chunk() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    append_batches(&master, "Tiny", 0, 0, 200).await;
    assert!(master.log_end().get() > 64 * 1024);
    // A 1-byte budget: each chunk is one record, or a marker alone.
    let chunks = replicate(&master, &slave, 1).await;
    assert_eq!(chunks as u64, 200 + master.log_end().get() / (64 * 1024));
    assert_queue(&slave, "Tiny", 0, 200);
    assert!(raw_log(&slave) == raw_log(&master));
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}
