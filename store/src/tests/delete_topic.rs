//! Deleting a topic drops its consume queues for good.

use ferromq_protocol::QueueId;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_topic_stays_deleted_and_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Gone", 0, 0, 20).await;
    append_n(&store, "Gone", 1, 0, 5).await;
    append_n(&store, "Kept", 0, 0, 10).await;
    wait_visible(&arrivals, "Kept", 0, 10);

    let s2 = store.clone();
    tokio::task::spawn_blocking(move || s2.delete_topic(&topic("Gone")))
        .await
        .unwrap()
        .unwrap();
    let gone = topic("Gone");
    assert!(store.queue_ids(&gone).is_empty());
    assert_eq!(store.max_offset(&gone, QueueId::new(0)).get(), 0);
    assert!(!dir.path().join("consumequeue").join("Gone").exists());

    // Offsets start over.
    arrivals.forget("Gone");
    append_n(&store, "Gone", 0, 0, 3).await;
    wait_visible(&arrivals, "Gone", 0, 3);
    assert_queue(&store, "Gone", 0, 3);

    // Even after a crash the old messages do not come back.
    store.crash();
    drop(store);
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_queue(&store, "Gone", 0, 3);
    assert_eq!(store.queue_ids(&gone), vec![QueueId::new(0)]);
    assert_queue(&store, "Kept", 0, 10);
    store.shutdown().await.unwrap();
}
