//! Recovery reads the commit log only from the checkpoint on: proved by
//! counting what it reads, not by timing it.

use ferromq_protocol::QueueId;

use super::*;
use crate::checkpointer::{checkpoint, Mode};

const SEG: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_recovery_reads_only_past_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    for i in (0..500).step_by(10) {
        append_batches(&store, "Scan", 0, i, 10).await;
        append_batches(&store, "Scan", 1, i, 10).await;
    }
    wait_visible(&arrivals, "Scan", 1, 500);
    checkpoint(&store.shared, Mode::Force).unwrap();
    let d = *store.shared.checkpoint_lock.lock();
    assert!(d >= 5 * SEG, "the checkpoint is far from the log's start");
    append_n(&store, "Scan", 0, 500, 20).await;
    wait_visible(&arrivals, "Scan", 0, 520);
    let end = store.stats().written_offset;
    store.crash();
    drop(store);

    let (store, _) = open(dir.path(), FlushMode::Sync);
    let st = store.stats();
    assert!(st.recovery_scan_from >= d, "{st:?}");
    assert!(
        st.recovery_lowest_read >= d,
        "nothing below the checkpoint was read: {st:?}"
    );
    // Two passes (find the end, re-dispatch), each at most the tail plus
    // the rest of one segment.
    assert!(
        st.recovery_scanned_bytes <= 2 * (end - d + SEG),
        "{} bytes read for a tail of {}",
        st.recovery_scanned_bytes,
        end - d
    );
    assert!(st.recovery_scanned_bytes < end / 2, "far less than the log");
    assert_queue(&store, "Scan", 0, 520);
    assert_queue(&store, "Scan", 1, 500);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
    drop(store);

    // A clean stop: recovery reads one window at the end, nothing before.
    let (store, _) = open(dir.path(), FlushMode::Sync);
    let st = store.stats();
    assert!(st.recovery_lowest_read >= end, "{st:?}");
    assert!(st.recovery_scanned_bytes <= 2 * SEG, "{st:?}");
    assert_eq!(store.max_offset(&topic("Scan"), QueueId::new(0)).get(), 520);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_checkpoint_the_whole_log_is_read() {
    // The counter's positive control.
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Scan", 0, 0, 200).await;
    wait_visible(&arrivals, "Scan", 0, 200);
    let end = store.stats().written_offset;
    store.crash();
    drop(store);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    let st = store.stats();
    assert_eq!(st.recovery_lowest_read, 0);
    assert!(st.recovery_scanned_bytes >= end, "{st:?}");
    assert_queue(&store, "Scan", 0, 200);
    store.shutdown().await.unwrap();
}
