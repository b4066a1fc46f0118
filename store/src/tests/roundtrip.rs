//! Append and read back across segment and consume-queue file boundaries.

use ferromq_protocol::record;
use ferromq_protocol::{QueueId, QueueOffset};

use super::*;
use crate::ReadStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    // ~ 3 queues x 150 records of up to ~750 bytes: many 64 KiB segments.
    for i in 0..150u64 {
        for q in 0..3 {
            append_n(&store, "TopicA", q, i, 1).await;
        }
    }
    for q in 0..3 {
        wait_visible(&arrivals, "TopicA", q, 150);
        assert_queue(&store, "TopicA", q, 150);
    }
    assert!(store.shared.log.bases().len() > 3, "the log rolled");
    assert_eq!(store.queue_ids(&topic("TopicA")).len(), 3);
    assert_consistent(&store);
    assert!(store.last_store_timestamp(&topic("TopicA"), QueueId::new(0)) > 0);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_append_gets_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    let t = topic("Batch");
    let q = QueueId::new(2);
    let mut next = 0;
    for round in 0..20u64 {
        let n = 1 + round % 9;
        let bodies: Vec<Vec<u8>> = (next..next + n).map(|i| body("Batch", 2, i)).collect();
        let (buf, count) = encode(&t, &bodies);
        let r = store.append(&t, q, buf, count).await.unwrap();
        assert_eq!(r.queue_offset.get(), next);
        assert_eq!(r.count as u64, n);
        next += n;
    }
    wait_visible(&arrivals, "Batch", 2, next);
    assert_queue(&store, "Batch", 2, next);
    // A batch is contiguous in the log.
    let msgs = read_all(&store, "Batch", 2);
    for w in msgs.windows(2).take(3) {
        assert_eq!(
            w[0].commit_log_offset.get() + u64::from(w[0].stored_size),
            w[1].commit_log_offset.get()
        );
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_limits_and_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    let t = topic("Limits");
    let q = QueueId::new(0);
    let r = store.read(&t, q, QueueOffset::new(0), 10, 1 << 20).unwrap();
    assert_eq!(r.status, ReadStatus::NoQueue);
    assert_eq!(r.next_offset.get(), 0);

    append_n(&store, "Limits", 0, 0, 40).await;
    wait_visible(&arrivals, "Limits", 0, 40);
    assert_eq!(arrivals.last("Limits", 0), 40);

    let r = store.read(&t, q, QueueOffset::new(5), 10, 1 << 20).unwrap();
    assert_eq!(r.status, ReadStatus::Found);
    assert_eq!(r.records.len(), 10);
    assert_eq!(r.next_offset.get(), 15);
    assert_eq!((r.min_offset.get(), r.max_offset.get()), (0, 40));
    let first = record::decode(&r.records.to_vec()[0]).unwrap();
    assert_eq!(first.queue_offset.get(), 5);

    // max_bytes of 1 still returns one record.
    let r = store.read(&t, q, QueueOffset::new(0), 10, 1).unwrap();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.next_offset.get(), 1);
    // About max_bytes: never more than fits, once one is in.
    let sizes: Vec<usize> = read_all(&store, "Limits", 0)
        .iter()
        .map(|m| m.stored_size as usize)
        .collect();
    let budget = (sizes[0] + sizes[1] + sizes[2]) as u32;
    let r = store.read(&t, q, QueueOffset::new(0), 100, budget).unwrap();
    assert_eq!(r.records.len(), 3);

    let r = store
        .read(&t, q, QueueOffset::new(40), 10, 1 << 20)
        .unwrap();
    assert_eq!(r.status, ReadStatus::NoNewMessage);
    assert_eq!(r.next_offset.get(), 40);
    let r = store
        .read(&t, q, QueueOffset::new(41), 10, 1 << 20)
        .unwrap();
    assert_eq!(r.status, ReadStatus::OffsetOverflow);
    assert_eq!(r.next_offset.get(), 40);
    assert_eq!(store.max_offset(&t, q).get(), 40);
    assert_eq!(store.min_offset(&t, q).get(), 0);
    assert_eq!(store.max_offset(&t, QueueId::new(9)).get(), 0);
    assert_eq!(store.last_store_timestamp(&t, QueueId::new(9)), 0);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mode_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Async);
    for q in 0..2 {
        append_n(&store, "Async", q, 0, 120).await;
    }
    for q in 0..2 {
        wait_visible(&arrivals, "Async", q, 120);
        assert_queue(&store, "Async", q, 120);
    }
    store.shutdown().await.unwrap();
    let (store, _) = open(dir.path(), FlushMode::Async);
    for q in 0..2 {
        assert_queue(&store, "Async", q, 120);
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}
