//! The key index: query by key, unique id and offset find exactly the right
//! messages, newest first, after clean and unclean restarts (index rebuilt),
//! and not once retention deleted them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::record::StoredMessage;
use ferromq_protocol::{CommitLogOffset, QueueId};

use super::*;
use crate::checkpointer::{checkpoint, Mode};

const N: u64 = 300;

fn keyed_body(i: u64) -> Vec<u8> {
    let mut b = format!("keyed-{i}/").into_bytes();
    b.resize(b.len() + (i as usize * 53) % 900, b'k');
    b
}

fn index_of(m: &StoredMessage) -> u64 {
    let s = std::str::from_utf8(&m.message.body).unwrap();
    s["keyed-".len()..s.find('/').unwrap()].parse().unwrap()
}

/// Message `i` goes to queue `i % 3` with keys `order-{i % 7}` and
/// `user-{i}` and unique id `uid-{i}`.
async fn append_keyed(store: &MessageStore, from: u64, to: u64) {
    let t = topic("Keyed");
    for i in from..to {
        let keys = vec![format!("order-{}", i % 7), format!("user-{i}")];
        let (buf, n) = encode_keyed(&t, &[(keyed_body(i), keys, Some(format!("uid-{i}")))]);
        store
            .append(&t, QueueId::new((i % 3) as u32), buf, n)
            .await
            .unwrap();
    }
}

/// Every stored message of the topic, by index `i`.
fn all_messages(store: &MessageStore) -> HashMap<u64, (StoredMessage, Bytes)> {
    let t = topic("Keyed");
    let mut out = HashMap::new();
    for q in 0..3 {
        let mut at = store.min_offset(&t, QueueId::new(q));
        loop {
            let r = store.read(&t, QueueId::new(q), at, 64, 1 << 20).unwrap();
            if r.records.is_empty() {
                break;
            }
            for rec in &r.records {
                let m = record::decode(&rec).unwrap();
                out.insert(index_of(&m), (m, rec));
            }
            at = r.next_offset;
        }
    }
    out
}

fn decoded(found: &[Bytes]) -> Vec<StoredMessage> {
    found.iter().map(|b| record::decode(b).unwrap()).collect()
}

/// Checks every query against what `read` serves.
fn check_queries(store: &MessageStore) {
    let t = topic("Keyed");
    let all = all_messages(store);
    assert!(!all.is_empty());
    for k in 0..7 {
        let found = decoded(
            &store
                .query_by_key(&t, &format!("order-{k}"), 1000, 0, u64::MAX)
                .unwrap(),
        );
        let mut want: Vec<&StoredMessage> = all
            .iter()
            .filter(|(i, _)| *i % 7 == k)
            .map(|(_, (m, _))| m)
            .collect();
        want.sort_by_key(|m| std::cmp::Reverse(m.commit_log_offset));
        let got: Vec<u64> = found.iter().map(|m| m.commit_log_offset.get()).collect();
        let want: Vec<u64> = want.iter().map(|m| m.commit_log_offset.get()).collect();
        assert_eq!(got, want, "order-{k}: newest first, complete");
        // `max` keeps the newest.
        let three = store
            .query_by_key(&t, &format!("order-{k}"), 3, 0, u64::MAX)
            .unwrap();
        assert_eq!(
            decoded(&three)
                .iter()
                .map(|m| m.commit_log_offset.get())
                .collect::<Vec<_>>(),
            want[..3.min(want.len())]
        );
    }
    for (&i, (m, rec)) in all.iter().filter(|(i, _)| *i % 17 == 0) {
        let by_key = store
            .query_by_key(&t, &format!("user-{i}"), 10, 0, u64::MAX)
            .unwrap();
        assert_eq!(by_key, vec![rec.clone()], "user-{i}");
        let by_id = store.query_by_unique_id(&t, &format!("uid-{i}")).unwrap();
        assert_eq!(by_id.as_ref(), Some(rec), "uid-{i}");
        // The time window is applied exactly.
        let ts = m.store_timestamp;
        assert_eq!(
            store
                .query_by_key(&t, &format!("user-{i}"), 10, ts, ts)
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .query_by_key(&t, &format!("user-{i}"), 10, ts + 1, u64::MAX)
            .unwrap()
            .is_empty());
        assert!(store
            .query_by_key(&t, &format!("user-{i}"), 10, 0, ts - 1)
            .unwrap()
            .is_empty());
        // By offset: exactly the record, and nothing in its middle.
        let off = m.commit_log_offset.get();
        assert_eq!(
            store.read_at(CommitLogOffset::new(off)).unwrap().as_ref(),
            Some(rec)
        );
        assert_eq!(store.read_at(CommitLogOffset::new(off + 1)).unwrap(), None);
        assert_eq!(store.read_at(CommitLogOffset::new(off + 4)).unwrap(), None);
    }
    // Keys are not unique ids, topics are separate, unknown keys find nothing.
    assert_eq!(store.query_by_unique_id(&t, "user-3").unwrap(), None);
    assert!(store
        .query_by_key(&t, "uid-3", 10, 0, u64::MAX)
        .unwrap()
        .is_empty());
    assert!(store
        .query_by_key(&topic("Other"), "order-1", 10, 0, u64::MAX)
        .unwrap()
        .is_empty());
    assert!(store
        .query_by_key(&t, "nope", 10, 0, u64::MAX)
        .unwrap()
        .is_empty());
    let end = store.stats().written_offset;
    assert_eq!(store.read_at(CommitLogOffset::new(end)).unwrap(), None);
    assert_eq!(
        store.read_at(CommitLogOffset::new(u64::MAX - 10)).unwrap(),
        None
    );
}

async fn filled(dir: &Path) -> Arc<MessageStore> {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    append_keyed(&store, 0, N).await;
    for q in 0..3 {
        wait_visible(&arrivals, "Keyed", q, N / 3);
    }
    // 900 keys in files of 64 entries: many index files.
    assert!(store.shared.index.file_count() > 10);
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_find_the_right_messages_before_and_after_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path()).await;
    check_queries(&store);
    store.shutdown().await.unwrap();
    drop(store);
    let (store, _) = open(dir.path(), FlushMode::Sync);
    check_queries(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path()).await;
    // A checkpoint in the middle, then more keys (new index files) that only
    // recovery can index again.
    checkpoint(&store.shared, Mode::Force).unwrap();
    append_keyed(&store, N, N + 90).await;
    let target = store.stats().written_offset;
    wait_for("dispatch", || store.stats().dispatched_offset >= target);
    store.crash();
    drop(store);
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_eq!(all_messages(&store).len() as u64, N + 90);
    check_queries(&store);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_index_is_rebuilt_without_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path()).await;
    store.crash();
    drop(store);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_eq!(
        store.stats().recovery_lowest_read,
        0,
        "scanned from the start"
    );
    check_queries(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_messages_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path()).await;
    let files = store.shared.index.file_count();
    let t = topic("Keyed");
    let old = all_messages(&store);
    store.advance_retention_clock(Duration::from_secs(73 * 3600));
    assert!(store.delete_expired_now().unwrap() > 0);
    let log_min = store.commit_log_min_offset().get();
    assert!(
        store.shared.index.file_count() < files,
        "old index files deleted"
    );
    let kept = all_messages(&store);
    assert!(!kept.is_empty() && kept.len() < old.len());
    for (i, (m, _)) in &old {
        let found = store.query_by_unique_id(&t, &format!("uid-{i}")).unwrap();
        assert_eq!(
            found.is_some(),
            m.commit_log_offset.get() >= log_min,
            "uid-{i}"
        );
        let at = store.read_at(m.commit_log_offset).unwrap();
        assert_eq!(at.is_some(), m.commit_log_offset.get() >= log_min);
    }
    check_queries(&store);
    store.shutdown().await.unwrap();
    drop(store);
    let (store, _) = open(dir.path(), FlushMode::Sync);
    check_queries(&store);
    assert!(store.query_by_unique_id(&t, "uid-0").unwrap().is_none());
    store.shutdown().await.unwrap();
}
