//! Segment recycling: retention keeps deleted segments as spares, new
//! segments reuse them, and the old bytes left in a reused segment are
//! never taken for records, not even after a crash that leaves a whole old
//! record right behind the last one.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use ferromq_protocol::record;
use ferromq_protocol::QueueId;

use super::*;
use crate::commit_log::SPARE_DIR;
use crate::retention::{pass, Trigger, TIMER_BATCH};

const SEG: u64 = 64 * 1024;
const OLD: Duration = Duration::from_secs(73 * 3600);
/// Every record of these tests is this long, so four fill a 4 KiB page and
/// every append of four ends on a page boundary.
const RECORD: usize = 1024;
const PER_APPEND: u64 = 4;

/// The body of message `i` of queue 0 of topic `R`, sized so that its
/// record is [`RECORD`] bytes.
fn fixed_body(i: u64) -> Vec<u8> {
    let (empty, _) = encode(&topic("R"), &[Vec::new()]);
    let mut b = format!("R/0/{i}/").into_bytes();
    b.resize(RECORD - empty.len(), b'y');
    b
}

async fn append_fixed(store: &MessageStore, from: u64) {
    let bodies: Vec<Vec<u8>> = (from..from + PER_APPEND).map(fixed_body).collect();
    let (buf, count) = encode(&topic("R"), &bodies);
    assert_eq!(buf.len(), RECORD * PER_APPEND as usize);
    let r = store
        .append(&topic("R"), QueueId::new(0), buf, count)
        .await
        .unwrap();
    assert_eq!(r.queue_offset.get(), from);
}

/// Appends until the log has `segments` segments; returns the message
/// count. Returns once the allocator has also made the segment after the
/// active one, so that it takes no spare (nor adds a segment) behind a
/// test's back until the writer rolls again.
async fn fill(store: &MessageStore, arrivals: &Arrivals, from: u64, segments: usize) -> u64 {
    let mut n = from;
    while store.shared.log.bases().len() < segments {
        append_fixed(store, n).await;
        n += PER_APPEND;
    }
    wait_visible(arrivals, "R", 0, n);
    let next = store.stats().written_offset / SEG * SEG + SEG;
    wait_for("the segment after the active one", || {
        store.shared.log.segment(next).is_some()
    });
    n
}

fn assert_fixed_queue(store: &MessageStore, n: u64) {
    let min = store.min_offset(&topic("R"), QueueId::new(0)).get();
    let msgs = read_all(store, "R", 0);
    assert_eq!(msgs.len() as u64, n - min, "messages from the min on");
    for (m, i) in msgs.iter().zip(min..) {
        assert_eq!(m.queue_offset.get(), i);
        assert_eq!(&m.message.body[..], &fixed_body(i)[..]);
    }
}

/// `n` spares, by the store's count and on disk.
fn assert_spares(store: &MessageStore, dir: &Path, n: usize) {
    assert_eq!(store.stats().spare_segments, n, "spares counted");
    assert_eq!(spare_inodes(dir).len(), n, "spare files");
}

fn spare_inodes(dir: &Path) -> HashSet<u64> {
    fs::read_dir(dir.join(SPARE_DIR))
        .map(|d| d.map(|e| e.unwrap().metadata().unwrap().ino()).collect())
        .unwrap_or_default()
}

fn segment_path(dir: &Path, base: u64) -> std::path::PathBuf {
    dir.join("commitlog").join(crate::fsutil::file_name(base))
}

/// A new store filled to `segments` segments, and its message count.
async fn filled(dir: &Path, segments: usize) -> (Arc<MessageStore>, Arc<Arrivals>, u64) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    let n = fill(&store, &arrivals, 0, segments).await;
    (store, arrivals, n)
}

/// Fills several segments and lets retention delete all but the active
/// one; returns the store and how many messages it holds.
async fn after_retention(dir: &Path) -> (Arc<MessageStore>, Arc<Arrivals>, u64) {
    let (store, arrivals, n) = filled(dir, 6).await;
    store.advance_retention_clock(OLD);
    let deleted = store.delete_expired_now().unwrap();
    assert!(deleted >= 4, "deleted {deleted}");
    (store, arrivals, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_segments_are_reused_and_their_old_records_never_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals, mut n) = after_retention(dir.path()).await;
    assert_spares(&store, dir.path(), 2);
    let spares = spare_inodes(dir.path());
    assert_fixed_queue(&store, n);

    // Write on until the writer is three appends into a reused segment.
    let reused = loop {
        append_fixed(&store, n).await;
        n += PER_APPEND;
        let written = store.stats().written_offset;
        let base = written / SEG * SEG;
        let ino = fs::metadata(segment_path(dir.path(), base)).unwrap().ino();
        if spares.contains(&ino) && written - base >= 3 * 4096 {
            break base;
        }
        assert!(n < 2000, "no reused segment was written");
    };
    wait_visible(&arrivals, "R", 0, n);
    assert!(store.stats().spare_segments < 2, "a spare was taken");
    let written = store.stats().written_offset;
    assert_eq!(written % 4096, 0, "the last append ended on a page");

    // Right behind the last record lies a whole, valid record of the
    // segment's previous life: the situation this test is about.
    let mut stale = vec![0u8; RECORD];
    let file = fs::File::open(segment_path(dir.path(), reused)).unwrap();
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut stale, written - reused).unwrap();
    let old = record::parse(&stale).expect("an old record follows the last one");
    assert_ne!(
        old.commit_log_offset.get(),
        written,
        "stamped for its old place"
    );
    assert_fixed_queue(&store, n);
    assert_consistent(&store);

    // An unclean stop: recovery must end the log at the last record.
    store.crash();
    drop(store);
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    assert_eq!(store.stats().written_offset, written);
    assert_fixed_queue(&store, n);
    assert_consistent(&store);

    // Appends go on where the log ended, over the old bytes.
    append_fixed(&store, n).await;
    n += PER_APPEND;
    wait_visible(&arrivals, "R", 0, n);
    assert_fixed_queue(&store, n);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spares_survive_a_restart_and_go_when_recycling_is_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = after_retention(dir.path()).await;
    assert_spares(&store, dir.path(), 2);
    let spares = spare_inodes(dir.path());
    store.shutdown().await.unwrap();
    drop(store);

    // Recovery deletes the never-written segment made ahead of the writer,
    // and the allocator makes it again from a spare: wait for that, so the
    // count below does not race it.
    let (store, _) = open(dir.path(), FlushMode::Sync);
    let next = store.stats().written_offset / SEG * SEG + SEG;
    wait_for("the segment after the active one", || {
        store.shared.log.segment(next).is_some()
    });
    assert_spares(&store, dir.path(), 1);
    let next_ino = fs::metadata(segment_path(dir.path(), next)).unwrap().ino();
    assert!(
        spares.contains(&next_ino),
        "the new segment is a spare reused"
    );
    assert!(
        spare_inodes(dir.path()).is_subset(&spares),
        "the other is kept"
    );
    store.shutdown().await.unwrap();
    drop(store);

    let mut c = config(dir.path(), FlushMode::Sync);
    c.recycle_segments = false;
    let (store, arrivals) = open_with(c);
    assert_spares(&store, dir.path(), 0);
    assert_fixed_queue(&store, n);
    // Deleting now removes the files.
    let m = fill(&store, &arrivals, n, 3).await;
    store.advance_retention_clock(OLD);
    assert!(store.delete_expired_now().unwrap() > 0);
    assert_spares(&store, dir.path(), 0);
    assert_fixed_queue(&store, m);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_a_full_disk_deleted_segments_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = filled(dir.path(), 4).await;
    // Above the force ratio: young segments go, and none is kept.
    store.set_disk_usage_override(Some(0.87));
    assert!(store.delete_expired_now().unwrap() > 0);
    assert_spares(&store, dir.path(), 0);
    assert_fixed_queue(&store, n);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spares_are_given_back_when_the_disk_gets_nearly_full() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = after_retention(dir.path()).await;
    assert_eq!(store.stats().spare_segments, 2);
    // Below the force ratio a pass leaves them.
    store.set_disk_usage_override(Some(0.80));
    pass(&store.shared, Trigger::Timer).unwrap();
    assert_eq!(store.stats().spare_segments, 2);
    // Above it their space goes first.
    store.set_disk_usage_override(Some(0.87));
    pass(&store.shared, Trigger::Timer).unwrap();
    assert_spares(&store, dir.path(), 0);
    assert_fixed_queue(&store, n);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_pass_deletes_a_few_segments_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = filled(dir.path(), 6).await;
    let before = store.shared.log.bases().len();
    store.advance_retention_clock(OLD);
    // Above the clean ratio, below the force ratio: expired segments go at
    // any hour, a few per pass, into the spares.
    store.set_disk_usage_override(Some(0.8));
    assert_eq!(pass(&store.shared, Trigger::Timer).unwrap(), TIMER_BATCH);
    assert_eq!(store.shared.log.bases().len(), before - TIMER_BATCH);
    assert_eq!(store.stats().spare_segments, TIMER_BATCH);
    assert_eq!(pass(&store.shared, Trigger::Timer).unwrap(), TIMER_BATCH);
    assert_eq!(
        store.stats().spare_segments,
        TIMER_BATCH,
        "the spares are full: the next ones are deleted"
    );
    assert_fixed_queue(&store, n);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_that_cannot_be_kept_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = filled(dir.path(), 4).await;
    let front = store.shared.log.bases()[0];
    // The spare directory is gone (as if on another file system, where a
    // rename cannot reach): retention deletes instead, and goes on.
    fs::remove_dir_all(dir.path().join(SPARE_DIR)).unwrap();
    store.advance_retention_clock(OLD);
    assert!(store.delete_expired_now().unwrap() >= 2);
    assert_eq!(store.stats().spare_segments, 0);
    assert!(!segment_path(dir.path(), front).exists());
    assert_fixed_queue(&store, n);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

/// With prefill (sync flush), the allocator writes the zeroes into a spare
/// first, holding no lock, and the next segment is made from it by a
/// rename; without prefill nothing is prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefilled_segments_are_prepared_as_spares() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals, n) = filled(dir.path(), 2).await;
    assert_spares(&store, dir.path(), 0);

    // The allocator is idle until the next roll; prepare one by hand.
    let log = &store.shared.log;
    assert!(log.prepare_spare(999 * SEG).unwrap());
    let spare = dir
        .path()
        .join(SPARE_DIR)
        .join(crate::fsutil::file_name(999 * SEG));
    let bytes = fs::read(&spare).unwrap();
    assert_eq!(bytes.len() as u64, SEG);
    assert!(bytes.iter().all(|&b| b == 0), "written full of zeroes");
    assert!(
        !log.prepare_spare(1000 * SEG).unwrap(),
        "one at hand is enough"
    );
    assert_spares(&store, dir.path(), 1);
    let ino = fs::metadata(&spare).unwrap().ino();

    // The next segment the allocator makes is that file.
    let segments = log.bases().len();
    fill(&store, &arrivals, n, segments + 1).await;
    assert_spares(&store, dir.path(), 0);
    let newest = *log.bases().last().unwrap();
    assert_eq!(
        fs::metadata(segment_path(dir.path(), newest))
            .unwrap()
            .ino(),
        ino
    );
    store.shutdown().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Async);
    assert!(!store.shared.log.prepare_spare(SEG).unwrap(), "no prefill");
    assert_spares(&store, dir.path(), 0);
    store.shutdown().await.unwrap();
}
