//! A failed fdatasync poisons the store: the append it covered and every
//! later one fail, reads keep working.

use ferromq_protocol::QueueId;

use super::*;
use crate::{AppendError, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fsync_poisons_writes_but_not_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Poison", 0, 0, 10).await;
    wait_visible(&arrivals, "Poison", 0, 10);

    store.inject_fsync_failure();
    let t = topic("Poison");
    let q = QueueId::new(0);
    let (buf, n) = encode(&t, &[body("Poison", 0, 10)]);
    let err = store.append(&t, q, buf, n).await.unwrap_err();
    assert!(matches!(err, AppendError::Poisoned(_)), "{err:?}");
    let (buf, n) = encode(&t, &[body("Poison", 0, 10)]);
    let err = store.append(&t, q, buf, n).await.unwrap_err();
    assert!(matches!(err, AppendError::Poisoned(_)), "{err:?}");
    assert!(store.stats().poisoned);

    // The unflushed message never became visible; the acked ones still read.
    assert_eq!(store.max_offset(&t, q).get(), 10);
    assert_queue(&store, "Poison", 0, 10);
    assert!(matches!(
        store.delete_topic(&t),
        Err(StoreError::Poisoned(_))
    ));
    assert!(matches!(
        store.shutdown().await,
        Err(StoreError::Poisoned(_))
    ));
    assert!(dir.path().join("abort").exists(), "next open must recover");
    drop(store);

    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert!(!store.stats().poisoned);
    // The unacknowledged record may or may not have reached the disk; what
    // matters is that the log and the queues agree and the acked ones stay.
    let n = store.max_offset(&t, q).get();
    assert!(n == 10 || n == 11, "{n}");
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_in_flight_all_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    store.inject_fsync_failure();
    let mut handles = Vec::new();
    for i in 0..16u64 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let t = topic("Many");
            let (buf, n) = encode(&t, &[body("Many", 0, i)]);
            store.append(&t, QueueId::new(0), buf, n).await
        }));
    }
    for h in handles {
        let r = h.await.unwrap();
        assert!(matches!(r, Err(AppendError::Poisoned(_))), "{r:?}");
    }
    assert_eq!(store.max_offset(&topic("Many"), QueueId::new(0)).get(), 0);
}
