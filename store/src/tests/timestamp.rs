//! Queue offset by store time: a binary search over the queue that agrees
//! with a linear look at every message.

use ferromq_protocol::QueueId;

use super::*;

fn check(store: &MessageStore, t: &str, q: u32) {
    let tn = topic(t);
    let qid = QueueId::new(q);
    let msgs = read_all(store, t, q);
    let (min, max) = (
        store.min_offset(&tn, qid).get(),
        store.max_offset(&tn, qid).get(),
    );
    assert_eq!(msgs.len() as u64, max - min);
    let expect = |ts: u64| {
        msgs.iter()
            .find(|m| m.store_timestamp >= ts)
            .map_or(max, |m| m.queue_offset.get())
    };
    for m in &msgs {
        for ts in [
            m.store_timestamp - 1,
            m.store_timestamp,
            m.store_timestamp + 1,
        ] {
            assert_eq!(
                store.offset_by_timestamp(&tn, qid, ts).get(),
                expect(ts),
                "ts {ts}"
            );
        }
    }
    assert_eq!(store.offset_by_timestamp(&tn, qid, 0).get(), min);
    assert_eq!(store.offset_by_timestamp(&tn, qid, u64::MAX).get(), max);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_by_timestamp_matches_a_linear_search() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    for i in 0..120 {
        append_n(&store, "Time", 0, i, 1).await;
        append_n(&store, "Time", 1, i, 1).await;
    }
    wait_visible(&arrivals, "Time", 1, 120);
    check(&store, "Time", 0);
    check(&store, "Time", 1);
    let unknown = store.offset_by_timestamp(&topic("Time"), QueueId::new(7), 5);
    assert_eq!(unknown.get(), 0);
    store.shutdown().await.unwrap();
    drop(store);

    let (store, _) = open(dir.path(), FlushMode::Sync);
    check(&store, "Time", 0);
    store.advance_retention_clock(std::time::Duration::from_secs(73 * 3600));
    assert!(store.delete_expired_now().unwrap() > 0);
    assert!(store.min_offset(&topic("Time"), QueueId::new(0)).get() > 0);
    check(&store, "Time", 0);
    check(&store, "Time", 1);
    store.shutdown().await.unwrap();
}
