//! A sync append whose fdatasync takes longer than `sync_flush_timeout`
//! reports FlushTimeout with its placement; the message still becomes
//! durable and visible, and nothing is visible before it is durable.

use std::time::Duration;

use ferromq_protocol::QueueId;

use super::*;
use crate::AppendError;

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

/// A device whose writes stall. The batch the writer placed before the
/// stall gets FlushTimeout with its place (async mode too: it is not on
/// the device yet); a batch still queued behind the stalled write is
/// withdrawn at its timeout and gets Stalled, and is never written; once
/// the device recovers, the next append follows the placed batch directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_device_write_answers_in_time_and_withdraws_what_waits() {
    for mode in [FlushMode::Sync, FlushMode::Async] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), mode);
        c.sync_flush_timeout = Duration::from_millis(50);
        let (store, arrivals) = open_with(c);
        let name = "StalledWrite";
        let t = topic(name);
        let q = QueueId::new(0);
        append_n(&store, name, 0, 0, 2).await;
        wait_visible(&arrivals, name, 0, 2);

        store.inject_write_delay(Duration::from_millis(1500));
        let (placed, n) = encode(&t, &[body(name, 0, 2)]);
        let r = match store.append(&t, q, placed, n).await {
            Err(AppendError::FlushTimeout(r)) => r,
            other => panic!("{mode:?}: expected FlushTimeout, got {other:?}"),
        };
        assert_eq!(r.queue_offset.get(), 2, "{mode:?}");
        // The writer is still inside that write: this one waits behind it.
        let (queued, n) = encode(&t, &[b"never written".to_vec()]);
        match store.append(&t, q, queued, n).await {
            Err(AppendError::Stalled(after)) => assert_eq!(after, Duration::from_millis(50)),
            other => panic!("{mode:?}: expected Stalled, got {other:?}"),
        }
        assert_eq!(
            store.max_offset(&t, q).get(),
            2,
            "{mode:?}: nothing visible yet"
        );

        store.inject_write_delay(Duration::ZERO);
        wait_visible(&arrivals, name, 0, 3);
        append_n(&store, name, 0, 3, 1).await;
        assert_queue(&store, name, 0, 4);
        assert_consistent(&store);
        store.shutdown().await.unwrap();
    }
}
