//! `read_raw`, the master's side: whole records and markers, only what is
//! flushed, from a record boundary.

use std::time::Duration;

use ferromq_protocol::record::{self, Peek};
use ferromq_protocol::CommitLogOffset;

use super::*;

const SEG: u64 = 64 * 1024;

/// The items of a chunk read at `at`: (offset, record or marker).
fn items(bytes: &[u8], mut at: u64) -> Vec<(u64, Peek)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let p = record::peek(&bytes[i..]);
        out.push((at, p));
        match p {
            Peek::Record(n) => {
                assert_eq!(record::raw::commit_log_offset(&bytes[i..]), Some(at));
                i += n;
                at += n as u64;
            }
            Peek::EndOfSegment(n) => {
                i += 8;
                at += n as u64;
            }
            other => panic!("{other:?} at {at}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_records_and_markers_from_a_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    append_batches(&store, "Raw", 0, 0, 300).await;
    let end = store.log_end().get();
    assert!(end > 2 * SEG);

    // Chunk by chunk: every chunk is whole items, and they tile the log.
    let mut at = 0;
    let mut markers = 0;
    while at < end {
        let (bytes, next) = store.read_raw(CommitLogOffset::new(at), 5000).unwrap();
        assert!(!bytes.is_empty());
        let its = items(&bytes, at);
        for (m, p) in &its {
            if let Peek::EndOfSegment(n) = p {
                markers += 1;
                assert_eq!(m % SEG + *n as u64, SEG, "a marker closes its segment");
            }
        }
        if let Some((m, Peek::EndOfSegment(_))) = its.last() {
            assert_eq!(next.get(), m - m % SEG + SEG, "goes on at the next segment");
        }
        at = next.get();
    }
    assert_eq!(at, end);
    assert!(markers >= 2);
    let (none, next) = store.read_raw(CommitLogOffset::new(end), 5000).unwrap();
    assert!(none.is_empty());
    assert_eq!(next.get(), end);

    // A record bigger than asked for comes alone.
    let (one, next) = store.read_raw(CommitLogOffset::new(0), 1).unwrap();
    assert_eq!(items(&one, 0).len(), 1);
    assert_eq!(next.get(), one.len() as u64);

    // Not a boundary; outside the log.
    match store.read_raw(CommitLogOffset::new(1), 5000) {
        Err(StoreError::NotRecordBoundary(1)) => {}
        other => panic!("{other:?}"),
    }
    match store.read_raw(CommitLogOffset::new(end + 1), 5000) {
        Err(StoreError::OffsetOutOfRange {
            offset,
            min: 0,
            end: e,
        }) => {
            assert_eq!((offset, e), (end + 1, end));
        }
        other => panic!("{other:?}"),
    }
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_flushed_bytes_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Async);
    append_n(&store, "Unflushed", 0, 0, 2).await;
    wait_for("the first flush", || store.flushed_end() == store.log_end());
    let flushed = store.flushed_end();
    store.inject_fsync_delay(Duration::from_millis(1500));
    // Async mode acknowledges once written.
    append_n(&store, "Unflushed", 0, 2, 3).await;
    assert!(store.log_end() > flushed);
    let (bytes, next) = store.read_raw(flushed, 1 << 20).unwrap();
    assert!(bytes.is_empty(), "written, not yet flushed");
    assert_eq!(next, flushed);
    wait_for("the delayed flush", || {
        store.flushed_end() == store.log_end()
    });
    let (bytes, next) = store.read_raw(flushed, 1 << 20).unwrap();
    assert_eq!(items(&bytes, flushed.get()).len(), 3);
    assert_eq!(next, store.log_end());
    store.shutdown().await.unwrap();
}
