//! A sync append whose fdatasync takes longer than `sync_flush_timeout`
//! reports FlushTimeout with its placement; the message still becomes
//! durable and visible, and nothing is visible before it is durable.

use std::time::Duration;

use ferromq_protocol::QueueId;

use super::*;
use crate::store::AppendError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_timeout_carries_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), FlushMode::Sync);
    c.sync_flush_timeout = Duration::from_millis(20);
    let (store, arrivals) = open_with(c);
    let t = topic("Slow");
    let q = QueueId::new(0);
    append_n(&store, "Slow", 0, 0, 2).await;
    wait_visible(&arrivals, "Slow", 0, 2);

    store.inject_fsync_delay(Duration::from_millis(300));
    let (buf, n) = encode(&t, &[body("Slow", 0, 2)]);
    let r = match store.append(&t, q, buf, n).await {
        Err(AppendError::FlushTimeout(r)) => r,
        other => panic!("expected FlushTimeout, got {other:?}"),
    };
    assert_eq!(r.queue_offset.get(), 2);
    // Written but not durable: not visible yet.
    assert_eq!(store.max_offset(&t, q).get(), 2);
    store.inject_fsync_delay(Duration::ZERO);
    wait_visible(&arrivals, "Slow", 0, 3);
    assert_queue(&store, "Slow", 0, 3);
    store.shutdown().await.unwrap();
}
