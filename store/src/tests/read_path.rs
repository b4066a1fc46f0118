//! The read path: adjacent records come from one pread into one buffer and
//! are handed out as slices of it; non-adjacent ones cost a pread each.

use ferromq_protocol::{QueueId, QueueOffset};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjacent_records_are_one_read_and_share_one_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    // One queue only: consecutive records are adjacent in the log.
    append_n(&store, "Run", 0, 0, 60).await;
    wait_visible(&arrivals, "Run", 0, 60);
    let t = topic("Run");
    let q = QueueId::new(0);

    let before = store.stats().read_calls;
    let r = store.read(&t, q, QueueOffset::new(0), 60, 1 << 20).unwrap();
    let calls = store.stats().read_calls - before;
    assert_eq!(r.records.len(), 60);
    let msgs: Vec<_> = r
        .records
        .iter()
        .map(|b| record::decode(&b).unwrap())
        .collect();
    // One pread per segment the run touches (records never span one).
    let mut segments: Vec<u64> = msgs
        .iter()
        .map(|m| m.commit_log_offset.get() / (64 * 1024))
        .collect();
    segments.dedup();
    assert_eq!(calls, segments.len() as u64, "one pread per contiguous run");
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(&m.message.body[..], &body("Run", 0, i as u64)[..]);
    }
    // Within a segment, each record is the next slice of the same buffer.
    for (w, m) in r.records.to_vec().windows(2).zip(msgs.windows(2)) {
        if m[0].commit_log_offset.get() / (64 * 1024) == m[1].commit_log_offset.get() / (64 * 1024)
        {
            assert_eq!(w[0].as_ptr().wrapping_add(w[0].len()), w[1].as_ptr());
        }
    }
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_queues_read_record_by_record() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    for i in 0..10 {
        append_n(&store, "Mix", 0, i, 1).await;
        append_n(&store, "Mix", 1, i, 1).await;
    }
    wait_visible(&arrivals, "Mix", 1, 10);
    let before = store.stats().read_calls;
    let r = store
        .read(
            &topic("Mix"),
            QueueId::new(0),
            QueueOffset::new(0),
            10,
            1 << 20,
        )
        .unwrap();
    assert_eq!(r.records.len(), 10);
    assert_eq!(store.stats().read_calls - before, 10);
    assert_queue(&store, "Mix", 0, 10);
    assert_queue(&store, "Mix", 1, 10);
    store.shutdown().await.unwrap();
}

/// A record damaged on disk in the middle of a run: the read serves the
/// verified records before it (one buffer, nothing of the bad one), and the
/// next read reports it instead of serving it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_ends_the_run_before_it() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), FlushMode::Sync);
    // Through the page cache, so the damage below is what the read sees.
    c.direct_io = false;
    let (store, arrivals) = open_with(c);
    append_n(&store, "Bad", 0, 0, 10).await;
    wait_visible(&arrivals, "Bad", 0, 10);
    let (t, q) = (topic("Bad"), QueueId::new(0));
    let whole = store.read(&t, q, QueueOffset::new(0), 10, 1 << 20).unwrap();
    let recs = whole.records.to_vec();
    assert_eq!(recs.len(), 10);
    let sixth = record::decode(&recs[5]).unwrap();

    // Flip the last byte of the sixth record's body in its segment.
    let seg = dir.path().join("commitlog").join(format!("{:020}", 0));
    let at = sixth.commit_log_offset.get() + u64::from(sixth.stored_size) - 1;
    let mut b = [0u8; 1];
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&seg)
        .unwrap();
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0xFF], at).unwrap();

    let r = store.read(&t, q, QueueOffset::new(0), 10, 1 << 20).unwrap();
    assert_eq!(r.status, ReadStatus::Found);
    assert_eq!(r.records.len(), 5);
    assert_eq!(r.next_offset.get(), 5);
    let good: Vec<u8> = recs[..5].iter().flat_map(|b| b.to_vec()).collect();
    assert_eq!(&r.records.into_bytes()[..], &good[..]);
    assert!(matches!(
        store.read(&t, q, QueueOffset::new(5), 10, 1 << 20),
        Err(StoreError::Corrupt(_))
    ));
    store.shutdown().await.unwrap();
}
