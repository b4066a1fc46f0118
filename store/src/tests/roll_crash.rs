//! Segment rolls: the next segment is made ahead of the writer, and a crash
//! in the middle of a roll (marker written, next segment present, missing,
//! torn, or the marker itself lost) recovers every acknowledged message.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ferromq_protocol::QueueId;

use super::*;
use crate::fsutil::file_name;
use crate::{AppendError, CrashPoint};

const SEG: u64 = 64 * 1024;

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join("commitlog").join(file_name(base))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_segment_is_created_ahead_of_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    wait_for("segment 1 made ahead", || {
        store.shared.log.segment(SEG).is_some()
    });
    assert!(
        store.shared.log.segment(2 * SEG).is_none(),
        "only one ahead"
    );
    let mut n = 0;
    while store.stats().written_offset < SEG {
        append_n(&store, "Ahead", 0, n, 1).await;
        n += 1;
    }
    wait_for("segment 2 made ahead", || {
        store.shared.log.segment(2 * SEG).is_some()
    });
    let len = fs::metadata(segment_path(dir.path(), 2 * SEG))
        .unwrap()
        .len();
    assert_eq!(len, SEG, "sized with set_len");
    wait_visible(&arrivals, "Ahead", 0, n);
    store.shutdown().await.unwrap();
    drop(store);
    // The unused segment past the end is not mistaken for data.
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_queue(&store, "Ahead", 0, n);
    assert_consistent(&store);
}

/// Appends single records until the writer halts at a roll. Returns how
/// many were acknowledged and where the roll's end-of-segment marker is.
async fn crash_during_a_roll(dir: &Path) -> (u64, u64) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    store.set_crash_point(Some(CrashPoint::AfterSegmentRoll));
    let t = topic("Roll");
    let mut acked = 0;
    loop {
        assert!(acked < 1000, "never rolled");
        let (buf, n) = encode(&t, &[body("Roll", 0, acked)]);
        match store.append(&t, QueueId::new(0), buf, n).await {
            Ok(r) => {
                assert_eq!(r.queue_offset.get(), acked);
                acked += 1;
            }
            Err(AppendError::ShuttingDown) => break,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    wait_visible(&arrivals, "Roll", 0, acked);
    let marker = store.stats().written_offset;
    store.crash();
    drop(store);
    let next = marker - marker % SEG + SEG;
    assert!(
        segment_path(dir, next).exists(),
        "the roll made the next segment"
    );
    (acked, marker)
}

async fn reopen_and_continue(dir: &Path, acked: u64) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    assert_queue(&store, "Roll", 0, acked);
    assert_consistent(&store);
    // Appends continue, across the next roll as well.
    append_n(&store, "Roll", 0, acked, 120).await;
    wait_visible(&arrivals, "Roll", 0, acked + 120);
    assert_queue(&store, "Roll", 0, acked + 120);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_marker_with_the_next_segment_made() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, _) = crash_during_a_roll(dir.path()).await;
    reopen_and_continue(dir.path(), acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_the_next_segment_existed() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, marker) = crash_during_a_roll(dir.path()).await;
    fs::remove_file(segment_path(dir.path(), marker - marker % SEG + SEG)).unwrap();
    reopen_and_continue(dir.path(), acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_while_the_next_segment_was_being_created() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, marker) = crash_during_a_roll(dir.path()).await;
    let next = segment_path(dir.path(), marker - marker % SEG + SEG);
    OpenOptions::new()
        .write(true)
        .open(next)
        .unwrap()
        .set_len(0)
        .unwrap();
    reopen_and_continue(dir.path(), acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_that_lost_the_unflushed_marker() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, marker) = crash_during_a_roll(dir.path()).await;
    // The marker was never fdatasynced: a power cut may take it back.
    let f = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), marker - marker % SEG))
        .unwrap();
    f.write_all_at(&[0u8; 8], marker % SEG).unwrap();
    reopen_and_continue(dir.path(), acked).await;
}
