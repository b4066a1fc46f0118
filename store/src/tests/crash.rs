//! Unclean stops: threads halted without the final flush of consume queues
//! and checkpoint.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_messages_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    for q in 0..4 {
        append_n(&store, "Crash", q, 0, 70).await;
    }
    wait_visible(&arrivals, "Crash", 3, 70);
    store.crash();
    assert!(dir.path().join("abort").exists());
    drop(store);

    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    for q in 0..4 {
        assert_queue(&store, "Crash", q, 70);
    }
    assert_consistent(&store);
    append_n(&store, "Crash", 0, 70, 5).await;
    wait_visible(&arrivals, "Crash", 0, 75);
    assert_queue(&store, "Crash", 0, 75);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_any_checkpoint_rebuilds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Early", 0, 0, 50).await;
    wait_visible(&arrivals, "Early", 0, 50);
    store.crash();
    drop(store);
    // As if neither the checkpoint nor the consume queues reached the disk.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    std::fs::remove_dir_all(dir.path().join("consumequeue")).unwrap();

    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_queue(&store, "Early", 0, 50);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_shutdown_is_an_unclean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Async);
    append_n(&store, "Dropped", 0, 0, 30).await;
    drop(store);
    assert!(dir.path().join("abort").exists());
    let (store, _) = open(dir.path(), FlushMode::Async);
    // Async mode acknowledges after the write: these were in the page cache.
    assert_queue(&store, "Dropped", 0, 30);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}
