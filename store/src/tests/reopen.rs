//! Clean shutdown and reopen.

use ferromq_protocol::QueueId;

use super::*;
use crate::AppendError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_clean_shutdown_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Reopen", 0, 0, 60).await;
    append_n(&store, "Reopen", 1, 0, 25).await;
    let end = store.stats().written_offset;
    store.shutdown().await.unwrap();
    store.shutdown().await.unwrap(); // idempotent
    assert!(!dir.path().join("abort").exists());
    assert!(dir.path().join("checkpoint").exists());

    // Writes after shutdown are refused and change nothing.
    let t = topic("Reopen");
    let (buf, n) = encode(&t, &[body("Reopen", 0, 60)]);
    assert!(matches!(
        store.append(&t, QueueId::new(0), buf, n).await,
        Err(AppendError::ShuttingDown)
    ));
    // Reads still work on a stopped store.
    assert_queue(&store, "Reopen", 0, 60);
    drop(store);

    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    assert!(dir.path().join("abort").exists());
    assert_eq!(store.stats().written_offset, end);
    assert_queue(&store, "Reopen", 0, 60);
    assert_queue(&store, "Reopen", 1, 25);
    assert!(store.last_store_timestamp(&t, QueueId::new(0)) > 0);
    append_n(&store, "Reopen", 0, 60, 30).await;
    wait_visible(&arrivals, "Reopen", 0, 90);
    assert_queue(&store, "Reopen", 0, 90);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_with_a_different_segment_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Size", 0, 0, 150).await;
    store.shutdown().await.unwrap();
    drop(store);
    let mut c = config(dir.path(), FlushMode::Sync);
    c.segment_size = 32 * 1024;
    let err = MessageStore::open(c, Arc::new(Arrivals::default()))
        .err()
        .unwrap();
    assert!(err.to_string().contains("segment"), "{err}");
}
