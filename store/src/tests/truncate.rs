//! A slave that holds records its new master never had cuts them with
//! `truncate_to` and is then exactly as if it had never taken them: log,
//! queues (a queue only they had goes), keys, epochs; it takes the
//! master's records after that, and keeps the cut across a reopen.

use ferromq_protocol::{CommitLogOffset, QueueId};

use super::*;
use crate::{agreed_end, EpochEntry};

const SEG: u64 = 64 * 1024;

/// Keyed records, so the index has entries (in several small files).
pub(super) async fn fill_keyed(store: &MessageStore, t: &str, queues: u32, from: u64, n: u64) {
    let tn = topic(t);
    for i in from..from + n {
        for q in 0..queues {
            let msgs = vec![(body(t, q, i), vec![format!("{t}-{q}-{i}")], None)];
            let (buf, count) = encode_keyed(&tn, &msgs);
            let r = store
                .append(&tn, QueueId::new(q), buf, count)
                .await
                .unwrap();
            assert_eq!(r.queue_offset.get(), i);
        }
    }
}

/// What a store holds, to compare with what it held before.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Snapshot {
    pub(super) end: CommitLogOffset,
    /// The log as `read_raw` serves it: length and checksum.
    log: (usize, u32),
    /// Topic, queue, min and max offset.
    queues: Vec<(String, u32, u64, u64)>,
}

pub(super) fn snapshot(store: &MessageStore, topics: &[&str]) -> Snapshot {
    wait_for("the flush", || store.flushed_end() == store.log_end());
    let mut queues = Vec::new();
    for t in topics {
        let tn = topic(t);
        for q in store.queue_ids(&tn) {
            let max = store.max_offset(&tn, q).get();
            assert_eq!(
                read_all(store, t, q.get()).len() as u64,
                max - store.min_offset(&tn, q).get()
            );
            queues.push((t.to_string(), q.get(), store.min_offset(&tn, q).get(), max));
        }
    }
    Snapshot {
        end: store.log_end(),
        log: {
            let raw = raw_log(store);
            (raw.len(), ferromq_protocol::crc32c(&raw))
        },
        queues,
    }
}

/// Whether a key finds its record.
pub(super) fn found(store: &MessageStore, t: &str, key: &str) -> bool {
    !store
        .query_by_key(&topic(t), key, 10, 0, u64::MAX)
        .unwrap()
        .is_empty()
}

/// Master and slave agree up to the fork; then the slave, promoted while
/// cut off, writes its own epoch, and the master goes on in a new one.
/// Returns the master's state at the fork.
pub(super) async fn diverge(master: &MessageStore, slave: &MessageStore) -> Snapshot {
    master.begin_epoch(1, CommitLogOffset::new(0)).unwrap();
    fill_keyed(master, "Trunc", 3, 0, 40).await;
    replicate(master, slave, 6000).await;
    slave.begin_epoch(1, CommitLogOffset::new(0)).unwrap();
    let fork = snapshot(master, &["Trunc", "Only"]);

    slave.set_role(StoreRole::Master);
    slave.begin_epoch(2, slave.log_end()).unwrap();
    fill_keyed(slave, "Trunc", 3, 40, 130).await;
    fill_keyed(slave, "Only", 1, 0, 5).await;
    slave.set_role(StoreRole::Slave);
    assert!(
        slave.log_end().get() > fork.end.get() + 2 * SEG,
        "segments past the fork"
    );

    master.begin_epoch(3, master.log_end()).unwrap();
    fill_keyed(master, "Trunc", 2, 40, 10).await;
    fork
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_divergent_tail_is_cut_and_the_masters_log_follows() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    let fork = diverge(&master, &slave).await;
    assert!(found(&slave, "Trunc", "Trunc-1-50"));

    let agreed = agreed_end(
        &master.epochs(),
        master.log_end(),
        &slave.epochs(),
        slave.log_end(),
    );
    assert_eq!(agreed, fork.end, "the slave's epoch 2 is cut whole");
    let s = slave.clone();
    tokio::task::spawn_blocking(move || s.truncate_to(agreed))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        snapshot(&slave, &["Trunc", "Only"]),
        fork,
        "as if never appended"
    );
    assert!(
        slave.queue_ids(&topic("Only")).is_empty(),
        "a queue only the cut tail had goes"
    );
    assert!(!found(&slave, "Trunc", "Trunc-1-50"), "its keys go");
    assert!(!found(&slave, "Only", "Only-0-1"));
    assert!(
        found(&slave, "Trunc", "Trunc-1-39"),
        "keys before the cut stay"
    );
    assert_eq!(slave.epochs(), vec![EpochEntry::new(1, 0)]);
    assert_consistent(&slave);
    let st = slave.stats();
    assert_eq!(
        (st.written_offset, st.flushed_offset, st.dispatched_offset),
        (agreed.get(), agreed.get(), agreed.get())
    );

    // The master's records go where the slave's were.
    slave.begin_epoch(3, agreed).unwrap();
    replicate(&master, &slave, 6000).await;
    assert_eq!(snapshot(&slave, &["Trunc"]), snapshot(&master, &["Trunc"]));
    assert!(found(&slave, "Trunc", "Trunc-1-45"));
    assert!(
        !found(&slave, "Trunc", "Trunc-2-45"),
        "the master never wrote it"
    );
    assert_eq!(slave.epochs(), master.epochs());
    assert_consistent(&slave);

    // And it stays so across a crash and a reopen.
    let want = snapshot(&slave, &["Trunc", "Only"]);
    slave.crash();
    drop(slave);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    assert_eq!(snapshot(&slave, &["Trunc", "Only"]), want);
    assert!(!found(&slave, "Only", "Only-0-1"));
    assert_consistent(&slave);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_store_reopens_without_the_cut_records() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    let fork = diverge(&master, &slave).await;
    let s = slave.clone();
    let end = fork.end;
    tokio::task::spawn_blocking(move || s.truncate_to(end))
        .await
        .unwrap()
        .unwrap();
    // Killed right after the cut: no shutdown, no final flush.
    slave.crash();
    drop(slave);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    assert_eq!(snapshot(&slave, &["Trunc", "Only"]), fork);
    assert!(slave.queue_ids(&topic("Only")).is_empty());
    assert!(!found(&slave, "Trunc", "Trunc-0-60"));
    assert_eq!(slave.epochs(), vec![EpochEntry::new(1, 0)]);
    assert_consistent(&slave);
    slave.shutdown().await.unwrap();
    master.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_at_segment_starts_and_markers_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Async);
    fill_keyed(&store, "Cuts", 2, 0, 260).await;
    wait_for("the flush", || store.flushed_end() == store.log_end());
    let end = store.log_end().get();
    assert!(end > 3 * SEG);
    let truncate = |at: u64| {
        let s = store.clone();
        async move {
            tokio::task::spawn_blocking(move || s.truncate_to(CommitLogOffset::new(at)))
                .await
                .unwrap()
        }
    };
    // Only a slave is truncated.
    assert!(matches!(
        truncate(SEG).await,
        Err(StoreError::WrongRole {
            role: StoreRole::Master,
            ..
        })
    ));
    store.set_role(StoreRole::Slave);

    // Where the second segment's marker is, and a record in the middle.
    let (raw, _) = store.read_raw(CommitLogOffset::new(SEG), 1 << 20).unwrap();
    let mut marker = SEG;
    let mut middle = 0;
    let mut at = 0;
    while at < raw.len() {
        match ferromq_protocol::record::peek(&raw[at..]) {
            ferromq_protocol::record::Peek::Record(n) => {
                if middle == 0 && at > 20_000 {
                    middle = SEG + at as u64;
                }
                at += n;
            }
            _ => {
                marker = SEG + at as u64;
                break;
            }
        }
    }
    assert!(marker > SEG && middle > SEG);
    let before = store.stats();
    for bad in [middle + 1, marker + 8, marker + 100] {
        match truncate(bad).await {
            Err(StoreError::NotRecordBoundary(at)) => assert_eq!(at, bad),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(matches!(
        truncate(end + 1).await,
        Err(StoreError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        store.stats().written_offset,
        before.written_offset,
        "refusals cut nothing"
    );
    truncate(end).await.unwrap();
    assert_eq!(store.log_end().get(), end, "to the end: nothing to cut");

    // Three segments back, to a segment's start, then to its marker.
    truncate(3 * SEG).await.unwrap();
    assert_eq!(store.log_end().get(), 3 * SEG);
    assert_consistent(&store);
    truncate(marker).await.unwrap();
    assert_eq!(store.log_end().get(), marker);
    assert!(
        store.shared.log.segment(2 * SEG).is_none(),
        "segments past the cut are gone"
    );
    assert_consistent(&store);
    truncate(middle).await.unwrap();
    assert_eq!(store.log_end().get(), middle);
    assert_consistent(&store);
    for q in 0..2 {
        let n = store.max_offset(&topic("Cuts"), QueueId::new(q)).get();
        assert!(found(&store, "Cuts", &format!("Cuts-{q}-{}", n - 1)));
        assert!(!found(&store, "Cuts", &format!("Cuts-{q}-{n}")));
    }
    // A promoted store goes on from there.
    store.set_role(StoreRole::Master);
    let n = store.max_offset(&topic("Cuts"), QueueId::new(0)).get();
    fill_keyed(&store, "Cuts", 1, n, 3).await;
    assert!(found(&store, "Cuts", &format!("Cuts-0-{}", n + 2)));
    assert_consistent(&store);
    store.shutdown().await.unwrap();
    drop(store);
    let (store, _) = open(dir.path(), FlushMode::Async);
    assert_consistent(&store);
    assert_eq!(
        store.max_offset(&topic("Cuts"), QueueId::new(0)).get(),
        n + 3
    );
    store.shutdown().await.unwrap();
}
