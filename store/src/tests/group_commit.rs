//! Sync mode under concurrency: every append succeeds, and fdatasyncs are
//! shared between them.

use ferromq_protocol::QueueId;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    // Like a real disk: fdatasync takes a while, so the result does not
    // depend on how fast the test machine's file system syncs.
    store.inject_fsync_delay(std::time::Duration::from_millis(2));
    const TASKS: u32 = 64;
    const PER_TASK: u64 = 20;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let t = topic("Group");
            let q = QueueId::new(task % 4);
            let mut offsets = Vec::new();
            for i in 0..PER_TASK {
                let (buf, n) = encode(&t, &[body("Group", task, i)]);
                let r = store.append(&t, q, buf, n).await.unwrap();
                offsets.push(r.queue_offset.get());
            }
            offsets
        }));
    }
    let mut per_queue = vec![Vec::new(); 4];
    for (task, h) in handles.into_iter().enumerate() {
        per_queue[task % 4].extend(h.await.unwrap());
    }
    // Offsets of each queue are exactly 0..n, each handed out once.
    for offsets in &mut per_queue {
        offsets.sort_unstable();
        let n = offsets.len() as u64;
        assert_eq!(*offsets, (0..n).collect::<Vec<_>>());
    }
    let appends = u64::from(TASKS) * PER_TASK;
    let stats = store.stats();
    assert_eq!(stats.appends, appends);
    assert!(
        stats.fsyncs * 8 < appends,
        "group commit: {} fdatasyncs for {appends} appends",
        stats.fsyncs
    );
    for q in 0..4 {
        wait_visible(&arrivals, "Group", q, appends / 4);
        assert_eq!(read_all(&store, "Group", q).len() as u64, appends / 4);
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}
