//! A crash between the commit-log write and the consume-queue write: the
//! records are durable and acknowledged, but no queue or index entry was
//! written. Recovery must complete the queues.

use std::time::Duration;

use ferromq_protocol::QueueId;

use super::*;
use crate::CrashPoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_but_undispatched_records_are_indexed_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), FlushMode::Sync);
    // Acknowledged (durable) appends answer after this even though the
    // dispatcher is dead: the "dispatch lags" path of `append`.
    c.sync_flush_timeout = Duration::from_millis(300);
    let (store, arrivals) = open_with(c);
    append_n(&store, "Undispatched", 0, 0, 20).await;
    wait_visible(&arrivals, "Undispatched", 0, 20);

    store.set_crash_point(Some(CrashPoint::AfterFlushBeforeDispatch));
    let t = topic("Undispatched");
    let mut acked = Vec::new();
    let mut handles = Vec::new();
    for i in 20..30u64 {
        let store = store.clone();
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            let (buf, n) = encode_keyed(
                &t,
                &[(body("Undispatched", 0, i), vec![format!("k{i}")], None)],
            );
            store.append(&t, QueueId::new(0), buf, n).await
        }));
    }
    for h in handles {
        let r = h.await.unwrap().expect("durable appends are acknowledged");
        acked.push(r.queue_offset.get());
    }
    acked.sort_unstable();
    assert_eq!(acked, (20..30).collect::<Vec<_>>());
    let st = store.stats();
    assert!(st.flushed_offset > st.dispatched_offset, "{st:?}");
    assert_eq!(
        store.max_offset(&t, QueueId::new(0)).get(),
        20,
        "not visible yet"
    );
    store.crash();
    drop(store);

    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_eq!(store.max_offset(&t, QueueId::new(0)).get(), 30);
    let msgs = read_all(&store, "Undispatched", 0);
    assert_eq!(msgs.len(), 30);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.queue_offset.get(), i as u64);
    }
    assert_consistent(&store);
    // The index caught up as well.
    let found = store.query_by_key(&t, "k25", 10, 0, u64::MAX).unwrap();
    assert_eq!(found.len(), 1);
    let m = record::decode(&found[0]).unwrap();
    assert_eq!(&m.message.body[..], &body("Undispatched", 0, 25)[..]);
    assert!(m.queue_offset.get() >= 20);
    store.shutdown().await.unwrap();
}
