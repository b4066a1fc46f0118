//! A truncation killed half-way: before its commit point the store
//! reopens as it was (and truncates again), after it the store reopens
//! cut, whatever was left to do.

use ferromq_protocol::CommitLogOffset;

use super::truncate::{diverge, found, snapshot, Snapshot};
use super::*;
use crate::{CrashPoint, EpochEntry};

/// Diverges, then truncates to the fork with a crash at `point`; returns
/// the fork's state, the slave's state before, and the slave's dir.
async fn crash_at(point: CrashPoint) -> (Snapshot, Snapshot, tempfile::TempDir) {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    let fork = diverge(&master, &slave).await;
    let before = snapshot(&slave, &["Trunc", "Only"]);
    slave.set_crash_point(Some(point));
    let s = slave.clone();
    let end = fork.end;
    let r = tokio::task::spawn_blocking(move || s.truncate_to(end))
        .await
        .unwrap();
    assert!(matches!(r, Err(StoreError::ShuttingDown)), "{r:?}");
    drop(slave);
    master.shutdown().await.unwrap();
    (fork, before, sdir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_cut_the_store_is_as_before() {
    let (fork, before, dir) = crash_at(CrashPoint::TruncateBeforeCut).await;
    let (slave, _) = open_slave(dir.path(), FlushMode::Sync);
    assert_eq!(
        snapshot(&slave, &["Trunc", "Only"]),
        before,
        "nothing was cut"
    );
    assert!(found(&slave, "Only", "Only-0-1"));
    assert_eq!(
        slave.stats().recovery_scan_from,
        fork.end.get(),
        "from the checkpoint at the cut"
    );
    assert_consistent(&slave);
    // The slave truncates again when it reconnects.
    let s = slave.clone();
    let end = fork.end;
    tokio::task::spawn_blocking(move || s.truncate_to(end))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot(&slave, &["Trunc", "Only"]), fork);
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_cut_the_store_reopens_cut() {
    let (fork, _, dir) = crash_at(CrashPoint::TruncateAfterCut).await;
    let (slave, _) = open_slave(dir.path(), FlushMode::Sync);
    assert_eq!(
        snapshot(&slave, &["Trunc", "Only"]),
        fork,
        "nothing past the cut came back"
    );
    assert!(slave.queue_ids(&topic("Only")).is_empty());
    assert!(!found(&slave, "Trunc", "Trunc-0-60"));
    assert!(!found(&slave, "Only", "Only-0-1"));
    assert!(found(&slave, "Trunc", "Trunc-0-39"));
    assert_consistent(&slave);
    // The epoch that began at the cut holds nothing now; the handshake's
    // truncation (to the end) drops it.
    assert_eq!(
        slave.epochs(),
        vec![EpochEntry::new(1, 0), EpochEntry::new(2, fork.end.get())]
    );
    let s = slave.clone();
    let end = slave.log_end();
    tokio::task::spawn_blocking(move || s.truncate_to(end))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slave.epochs(), vec![EpochEntry::new(1, 0)]);
    assert_eq!(slave.log_end(), CommitLogOffset::new(fork.end.get()));
    slave.shutdown().await.unwrap();
}
