//! Retention (RocketMQ's CleanCommitLogService): deletes whole commit-log
//! segments from the front of the log, then everything that pointed into
//! them.
//!
//! Every `retention_check_interval` (1 s) the cleaner measures the disk
//! holding the store, then:
//!
//! * usage above `disk_reject_ratio`: appends fail with `DiskFull` until a
//!   later pass measures it below again (reads go on);
//! * expired segments (last modified more than `file_reserved_time` ago)
//!   are deleted at the hour `delete_when_hour` (UTC), or at any hour once
//!   usage is above `disk_clean_ratio`, at most [`TIMER_BATCH`] per pass;
//! * usage above `disk_force_clean_ratio`: the oldest segments are deleted
//!   even if not expired, re-measuring after each (a timer pass deletes at
//!   most [`TIMER_BATCH`] segments in all, `delete_expired_now` at most
//!   [`BATCH_MAX`] forced ones).
//!
//! With `StoreConfig::recycle_segments`, a deleted segment may be kept as
//! a spare for reuse instead (never when usage is above the force ratio).
//!
//! A segment is only deleted if a later one exists (never the active one)
//! and everything in it is flushed, dispatched and covered by a checkpoint,
//! so recovery never has to look below the log's new start. Consume queues
//! move their min first (readers then get "offset too small", never an
//! error), then the segment goes, then queue and index files wholly below
//! the new start, then a checkpoint records the new mins.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::checkpointer::{self, Mode};
use super::disk::DiskMonitor;
use super::error::StoreError;
use super::shared::Shared;

/// Most segments forced deletion takes in one pass (RocketMQ's
/// `deleteFilesBatchMax`).
pub(crate) const BATCH_MAX: usize = 10;

/// Most segments one timer pass deletes. With a pass every second that is
/// up to 2 GiB/s of 1 GiB segments: ahead of any writer on the development
/// machine, spread evenly (a backlog of expired segments at the delete
/// hour goes two a second, not ten at once), and in steps the two spare
/// segments of `StoreConfig::recycle_segments` take whole. Deleting a
/// segment on a file system mounted with `discard` stalls the device for
/// a fraction of a second; keeping it as a spare costs nothing.
pub(crate) const TIMER_BATCH: usize = 2;

/// Retention's part of the store's shared state.
pub(crate) struct Retention {
    /// One pass at a time: the cleaner thread's, or `delete_expired_now`
    /// on a caller's thread.
    lock: Mutex<()>,
    /// Measures the store's file system: passes, the open, and
    /// `MessageStore::disk_usage` on a caller's thread. Holds no state
    /// beyond a test's override.
    pub(crate) disk: DiskMonitor,
    /// Appends are refused while set (usage above `disk_reject_ratio`).
    /// Written by each measurement, read by every append.
    disk_full: AtomicBool,
}

impl Retention {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            lock: Mutex::new(()),
            disk: DiskMonitor::new(dir),
            disk_full: AtomicBool::new(false),
        }
    }

    /// Holds retention still (no pass runs) for as long as the guard
    /// lives: a truncation's.
    pub(crate) fn hold(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.lock.lock()
    }

    /// Whether appends are refused for a full disk.
    pub(crate) fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::Acquire)
    }
}

/// Why a pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The periodic check: bound by the hour and the disk thresholds.
    Timer,
    /// `delete_expired_now`: expired segments go whatever the hour.
    Now,
}

pub(crate) fn run(shared: Arc<Shared>) {
    let stopping = || shared.halted() || shared.cleaner.stop_requested();
    loop {
        let interval = shared.config.retention_check_interval;
        if shared.cleaner.wake.wait_until(interval, stopping) {
            break;
        }
        if shared.is_poisoned() {
            continue;
        }
        if let Err(e) = pass(&shared, Trigger::Timer) {
            tracing::warn!(error = %e, "retention pass failed");
        }
    }
    tracing::debug!("cleaner stopped");
}

/// The wall clock as retention sees it (tests move it forward).
fn now(shared: &Shared) -> SystemTime {
    let now = SystemTime::now();
    #[cfg(any(test, feature = "fault-injection"))]
    let now = now + *shared.faults.clock_skew.lock();
    #[cfg(not(any(test, feature = "fault-injection")))]
    let _ = shared;
    now
}

/// Measures the disk and updates the `DiskFull` switch; `None` if the
/// measurement failed (the switch then stays as it was).
pub(crate) fn measure(shared: &Shared) -> Option<f64> {
    let r = &shared.retention;
    let usage = match r.disk.usage() {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure disk usage");
            return None;
        }
    };
    let full = usage > shared.config.disk_reject_ratio;
    let was = r.disk_full.swap(full, Ordering::AcqRel);
    if full && !was {
        tracing::error!(
            usage,
            reject_ratio = shared.config.disk_reject_ratio,
            "disk full: refusing appends"
        );
    } else if was && !full {
        tracing::info!(
            usage,
            "disk usage back below the reject ratio: accepting appends"
        );
    }
    Some(usage)
}

/// One retention pass; returns how many segments it deleted.
pub(crate) fn pass(shared: &Shared, trigger: Trigger) -> Result<usize, StoreError> {
    let _one_at_a_time = shared.retention.lock.lock();
    let c = &shared.config;
    let mut usage = measure(shared);
    let forced = |u: Option<f64>| u.is_some_and(|u| u > c.disk_force_clean_ratio);
    let hour = now(shared)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 3600) % 24);
    let allowed = trigger == Trigger::Now
        || hour == u64::from(c.delete_when_hour)
        || usage.is_some_and(|u| u > c.disk_clean_ratio);
    if forced(usage) {
        // The spares' space is wanted back before any data goes.
        let dropped = shared.log.drop_spares()?;
        if dropped > 0 {
            tracing::info!(
                dropped,
                "deleted the spare segments: the disk is nearly full"
            );
            usage = measure(shared);
        }
    }
    if !allowed && !forced(usage) {
        return Ok(0);
    }
    // Segments are deleted only below the last checkpoint; bring it up to
    // date so what was just dispatched counts.
    checkpointer::checkpoint(shared, Mode::IfChanged)?;
    let limit = match trigger {
        Trigger::Timer => TIMER_BATCH,
        Trigger::Now => usize::MAX,
    };
    let mut deleted = 0;
    let mut forced_deleted = 0;
    while deleted < limit {
        let Some((base, end)) = deletable_front(shared) else {
            break;
        };
        let expired = allowed && is_expired(shared, base)?;
        if !expired {
            if !forced(usage) || forced_deleted >= BATCH_MAX {
                break;
            }
            forced_deleted += 1;
        }
        // Readers must see the new min before the records disappear.
        for cq in shared.cqs.all() {
            cq.advance_min(end)?;
        }
        // Near a full disk the space is wanted back: no segment is kept.
        if !shared.log.remove_front(base, !forced(usage))? {
            break;
        }
        deleted += 1;
        shared
            .stats
            .segments_deleted
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(base, expired, usage, "deleted commit-log segment");
        if !expired {
            usage = measure(shared);
        }
    }
    if deleted > 0 {
        after_delete(shared)?;
    }
    Ok(deleted)
}

/// The oldest segment `(base, end)` if it may go at all: a later segment
/// exists, and everything in it is flushed, dispatched and checkpointed.
fn deletable_front(shared: &Shared) -> Option<(u64, u64)> {
    let bases = shared.log.bases();
    let (&base, &next) = (bases.first()?, bases.get(1)?);
    let end = base + shared.log.segment_size();
    let safe = shared
        .flushed
        .load(Ordering::Acquire)
        .min(shared.dispatched.load(Ordering::Acquire))
        .min(*shared.checkpoint_lock.lock());
    let active = shared
        .log
        .segment_base(shared.written.load(Ordering::Acquire));
    (next == end && end <= safe && base < active).then_some((base, end))
}

fn is_expired(shared: &Shared, base: u64) -> Result<bool, StoreError> {
    let Some(seg) = shared.log.segment(base) else {
        return Ok(false);
    };
    let modified = seg.modified()?;
    let age = now(shared)
        .duration_since(modified)
        .unwrap_or(Duration::ZERO);
    Ok(age >= shared.config.file_reserved_time)
}

/// Drops consume-queue and index files wholly below the new start of the
/// log and checkpoints the new mins.
fn after_delete(shared: &Shared) -> Result<(), StoreError> {
    let log_min = shared.log.min_offset();
    let mut cq_files = 0;
    for cq in shared.cqs.all() {
        cq.advance_min(log_min)?;
        cq_files += cq.drop_files_below_min()?;
    }
    let index_files = shared.index.delete_below(log_min)?;
    tracing::info!(
        log_min,
        cq_files,
        index_files,
        "retention advanced the start of the log"
    );
    checkpointer::checkpoint(shared, Mode::Force)
}
