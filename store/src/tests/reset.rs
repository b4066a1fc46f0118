//! `reset_to`: a slave that shares nothing with what its master still
//! has starts over, empty, at the master's first offset: a new slave of a
//! master whose retention deleted its first segments, and a slave killed
//! half-way through a reset.

use std::time::Duration;

use ferromq_protocol::{CommitLogOffset, QueueId};

use super::*;
use crate::CrashPoint;

const SEG: u64 = 64 * 1024;

/// A master whose first segments retention deleted.
async fn trimmed_master(dir: &Path) -> Arc<MessageStore> {
    let (master, _) = open(dir, FlushMode::Sync);
    for i in (0..300).step_by(10) {
        for q in 0..2 {
            append_batches(&master, "Reset", q, i, 10).await;
        }
    }
    master.advance_retention_clock(Duration::from_secs(73 * 3600));
    let m = master.clone();
    let deleted = tokio::task::spawn_blocking(move || m.delete_expired_now())
        .await
        .unwrap()
        .unwrap();
    assert!(deleted >= 2);
    assert!(master.commit_log_min_offset().get() >= 2 * SEG);
    master
}

/// The slave holds what the master still has, queue offsets included.
fn assert_follows(master: &MessageStore, slave: &MessageStore) {
    assert_eq!(
        slave.commit_log_min_offset(),
        master.commit_log_min_offset()
    );
    assert_eq!(slave.log_end(), master.log_end());
    assert!(raw_log(slave) == raw_log(master), "same bytes");
    let t = topic("Reset");
    for q in 0..2 {
        let q = QueueId::new(q);
        assert_eq!(slave.min_offset(&t, q), master.min_offset(&t, q));
        assert_eq!(slave.max_offset(&t, q), master.max_offset(&t, q));
        assert_eq!(
            read_all(slave, "Reset", q.get()),
            read_all(master, "Reset", q.get())
        );
    }
    assert_consistent(slave);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_slave_starts_at_the_masters_first_offset() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = trimmed_master(mdir.path()).await;
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    let min = master.commit_log_min_offset();
    match master.read_raw(slave.log_end(), 1 << 20) {
        Err(StoreError::OffsetOutOfRange { min: m, .. }) => assert_eq!(m, min.get()),
        other => panic!("{other:?}"),
    }
    let s = slave.clone();
    tokio::task::spawn_blocking(move || s.reset_to(min))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((slave.commit_log_min_offset(), slave.log_end()), (min, min));
    replicate(&master, &slave, 20_000).await;
    assert_follows(&master, &slave);

    // It survives a crash, and goes on from there.
    slave.crash();
    drop(slave);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    assert_follows(&master, &slave);
    append_batches(&master, "Reset", 0, 300, 10).await;
    replicate(&master, &slave, 20_000).await;
    assert_follows(&master, &slave);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_killed_half_way_is_finished_by_the_next_open() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = trimmed_master(mdir.path()).await;
    // A slave with a log of its own that shares nothing with the master's.
    let (slave, _) = open(sdir.path(), FlushMode::Sync);
    slave.begin_epoch(7, CommitLogOffset::new(0)).unwrap();
    append_batches(&slave, "Mine", 0, 0, 200).await;
    slave.set_role(StoreRole::Slave);
    let min = master.commit_log_min_offset();
    assert!(matches!(
        slave.reset_to(CommitLogOffset::new(min.get() + 1)),
        Err(StoreError::NotRecordBoundary(_))
    ));
    slave.set_crash_point(Some(CrashPoint::ResetAfterIntent));
    let s = slave.clone();
    let r = tokio::task::spawn_blocking(move || s.reset_to(min))
        .await
        .unwrap();
    assert!(matches!(r, Err(StoreError::ShuttingDown)), "{r:?}");
    drop(slave);

    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    assert_eq!((slave.commit_log_min_offset(), slave.log_end()), (min, min));
    assert!(slave.queue_ids(&topic("Mine")).is_empty());
    assert!(slave.epochs().is_empty());
    assert!(!sdir.path().join("reset").exists());
    replicate(&master, &slave, 50_000).await;
    assert_follows(&master, &slave);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}
