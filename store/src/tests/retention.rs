//! Retention: old segments go (by age, at the hour or when the disk is
//! fullish, or forcibly when it is fuller), queue mins follow, readers
//! behind are moved forward, a full disk refuses appends, and all of it
//! survives a restart.

use std::fs;
use std::path::Path;
use std::time::Duration;

use ferromq_protocol::{QueueId, QueueOffset};

use super::*;
use crate::retention::{pass, Trigger};
use crate::{AppendError, ReadStatus};

const SEG: u64 = 64 * 1024;
const OLD: Duration = Duration::from_secs(73 * 3600);

/// Two queues over several segments; returns the store and how many
/// messages each queue holds.
async fn filled(dir: &Path) -> (Arc<MessageStore>, Arc<Arrivals>, u64) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    let n = 400;
    for i in (0..n).step_by(10) {
        append_batches(&store, "Old", 0, i, 10).await;
        append_batches(&store, "Old", 1, i, 10).await;
    }
    wait_visible(&arrivals, "Old", 1, n);
    assert!(store.shared.log.bases().len() >= 5);
    (store, arrivals, n)
}

/// The queue's messages from its min on are exactly `min..n` of `append_n`.
fn assert_tail(store: &MessageStore, q: u32, n: u64) -> u64 {
    let min = store.min_offset(&topic("Old"), QueueId::new(q)).get();
    let msgs = read_all(store, "Old", q);
    assert_eq!(msgs.len() as u64, n - min);
    for (m, i) in msgs.iter().zip(min..) {
        assert_eq!(m.queue_offset.get(), i);
        assert_eq!(&m.message.body[..], &body("Old", q, i)[..]);
    }
    min
}

/// Reading below the min moves the reader to the min.
fn assert_moved(store: &MessageStore, q: u32, min: u64) {
    let r = store
        .read(
            &topic("Old"),
            QueueId::new(q),
            QueueOffset::new(0),
            10,
            1 << 20,
        )
        .unwrap();
    assert_eq!(r.status, ReadStatus::OffsetTooSmall);
    assert_eq!(r.next_offset.get(), min);
    assert_eq!(r.min_offset.get(), min);
    assert!(r.records.is_empty());
}

fn files_in(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_segments_go_and_readers_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals, n) = filled(dir.path()).await;
    let segments = store.shared.log.bases();
    let active = store.stats().written_offset / SEG * SEG;
    let cq_files_before = files_in(&dir.path().join("consumequeue/Old/0"));
    let index_files_before = store.shared.index.file_count();

    // Nothing is old yet: a pass deletes nothing.
    assert_eq!(store.delete_expired_now().unwrap(), 0);
    store.advance_retention_clock(OLD);
    let deleted = store.delete_expired_now().unwrap();
    let expected = segments.iter().filter(|&&b| b < active).count();
    assert_eq!(deleted, expected, "every segment but the active one");
    assert_eq!(store.commit_log_min_offset().get(), active);
    assert_eq!(store.stats().segments_deleted, deleted as u64);
    assert!(!dir
        .path()
        .join("commitlog")
        .join(crate::fsutil::file_name(0))
        .exists());

    let mut mins = Vec::new();
    for q in 0..2 {
        let min = assert_tail(&store, q, n);
        assert!(min > 0 && min <= n, "min {min}");
        assert_moved(&store, q, min);
        // What is still served lies in the active segment.
        if let Some(first) = read_all(&store, "Old", q).first() {
            assert!(first.commit_log_offset.get() >= active);
        }
        mins.push(min);
    }
    assert!(files_in(&dir.path().join("consumequeue/Old/0")) < cq_files_before);
    assert!(store.shared.index.file_count() <= index_files_before);
    assert_consistent(&store);

    // Writes go on; a clean restart keeps the mins.
    append_n(&store, "Old", 0, n, 3).await;
    wait_visible(&arrivals, "Old", 0, n + 3);
    store.shutdown().await.unwrap();
    drop(store);
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert!(mins[1] < n, "the last batch written is still there");
    for q in 0..2 {
        let total = if q == 0 { n + 3 } else { n };
        assert_eq!(assert_tail(&store, q, total), mins[q as usize]);
        assert_moved(&store, q, mins[q as usize]);
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_deleted_while_stopped_move_the_mins_at_open() {
    // As if retention died right after unlinking segments: the queues have
    // not moved yet, nor has the checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = filled(dir.path()).await;
    store.crash();
    drop(store);
    for base in [0, SEG] {
        fs::remove_file(
            dir.path()
                .join("commitlog")
                .join(crate::fsutil::file_name(base)),
        )
        .unwrap();
    }
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_eq!(store.commit_log_min_offset().get(), 2 * SEG);
    for q in 0..2 {
        let min = assert_tail(&store, q, n);
        assert!(min > 0);
        assert_moved(&store, q, min);
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_segments_wait_for_the_hour_or_a_fullish_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), FlushMode::Sync);
    // Retention's clock goes to half past the hour 74 h from now, so the
    // segments are expired and the hour is known with 30 minutes to spare.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hours = secs / 3600 + 74;
    let skew = Duration::from_secs(hours * 3600 + 1800 - secs);
    c.delete_when_hour = ((hours + 1) % 24) as u8;
    let (store, arrivals) = open_with(c);
    for i in 0..150 {
        append_n(&store, "Old", 0, i, 1).await;
    }
    wait_visible(&arrivals, "Old", 0, 150);
    store.set_disk_usage_override(Some(0.5));
    store.advance_retention_clock(skew);
    // Expired, but not the hour and the disk has room: kept.
    assert_eq!(pass(&store.shared, Trigger::Timer).unwrap(), 0);
    // Above the clean ratio: deleted at any hour.
    store.set_disk_usage_override(Some(0.8));
    let deleted = pass(&store.shared, Trigger::Timer).unwrap();
    assert!(deleted > 0);
    assert!(store.commit_log_min_offset().get() > 0);
    // At the configured hour, with room: deleted too.
    store.set_disk_usage_override(Some(0.5));
    append_n(&store, "Old", 0, 150, 150).await;
    wait_visible(&arrivals, "Old", 0, 300);
    assert_eq!(pass(&store.shared, Trigger::Timer).unwrap(), 0);
    store.advance_retention_clock(Duration::from_secs(3600));
    assert!(pass(&store.shared, Trigger::Timer).unwrap() > 0);
    assert_tail_of(&store, "Old", 300);
    store.shutdown().await.unwrap();
}

fn assert_tail_of(store: &MessageStore, t: &str, n: u64) {
    let min = store.min_offset(&topic(t), QueueId::new(0)).get();
    assert!(min > 0);
    assert_eq!(read_all(store, t, 0).len() as u64, n - min);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_force_ratio_young_segments_go_too_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, n) = filled(dir.path()).await;
    let active = store.stats().written_offset / SEG * SEG;
    // Between clean and force: young segments stay.
    store.set_disk_usage_override(Some(0.80));
    assert_eq!(store.delete_expired_now().unwrap(), 0);
    store.set_disk_usage_override(Some(0.87));
    let mut deleted = 0;
    loop {
        let d = store.delete_expired_now().unwrap();
        assert!(d <= crate::retention::BATCH_MAX);
        if d == 0 {
            break;
        }
        deleted += d;
    }
    assert!(deleted > 0);
    assert_eq!(
        store.commit_log_min_offset().get(),
        active,
        "the active segment stays"
    );
    assert!(!store.stats().disk_full, "87 % is below the reject ratio");
    for q in 0..2 {
        let min = assert_tail(&store, q, n);
        assert_moved(&store, q, min);
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_until_it_has_room_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Full", 0, 0, 5).await;
    wait_visible(&arrivals, "Full", 0, 5);
    let written = store.stats().written_offset;

    store.set_disk_usage_override(Some(0.91));
    assert!(store.stats().disk_full);
    assert_eq!(store.disk_usage(), 0.91);
    let t = topic("Full");
    for i in 5..8 {
        let (buf, n) = encode(&t, &[body("Full", 0, i)]);
        match store.append(&t, QueueId::new(0), buf, n).await {
            Err(AppendError::DiskFull(msg)) => assert!(msg.contains("90%"), "{msg}"),
            other => panic!("expected DiskFull, got {other:?}"),
        }
    }
    assert_eq!(store.stats().written_offset, written, "nothing written");
    assert_queue(&store, "Full", 0, 5);

    // Measured again by the next retention pass: room again.
    *store.shared.retention.disk.usage_override.lock() = Some(0.6);
    pass(&store.shared, Trigger::Timer).unwrap();
    assert!(!store.stats().disk_full);
    append_n(&store, "Full", 0, 5, 3).await;
    wait_visible(&arrivals, "Full", 0, 8);
    assert_queue(&store, "Full", 0, 8);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_queue_keeps_its_offsets_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    // Queue 0 only has old messages; queue 1 keeps writing.
    append_n(&store, "Old", 0, 0, 20).await;
    append_batches(&store, "Old", 1, 0, 400).await;
    wait_visible(&arrivals, "Old", 1, 400);
    store.advance_retention_clock(OLD);
    assert!(store.delete_expired_now().unwrap() > 0);
    let q0 = QueueId::new(0);
    assert_eq!(store.min_offset(&topic("Old"), q0).get(), 20);
    assert_eq!(store.max_offset(&topic("Old"), q0).get(), 20);
    assert_moved(&store, 0, 20);
    store.crash();
    drop(store);

    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    assert_eq!(store.min_offset(&topic("Old"), q0).get(), 20);
    assert_eq!(store.max_offset(&topic("Old"), q0).get(), 20);
    // New messages continue the old numbering.
    append_n(&store, "Old", 0, 20, 2).await;
    wait_visible(&arrivals, "Old", 0, 22);
    let msgs = read_all(&store, "Old", 0);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].queue_offset.get(), 20);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}
