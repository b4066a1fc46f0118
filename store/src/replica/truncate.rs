//! `MessageStore::truncate_to`: a slave cuts the tail its new master
//! never had, so that the store is exactly as if those records had never
//! been appended: commit log, consume queues, index, checkpoint, the
//! store's marks, the writer's queue offsets and the epoch history.
//!
//! # Crash safety
//!
//! Recovery finds the end of the log by scanning forward from the
//! checkpoint's consistent offset D and stopping at the first byte that is
//! not a valid record. A truncation uses exactly that, in this order:
//!
//! 1. Everything written is flushed and dispatched, and a checkpoint
//!    written (so the entries below the cut are durable).
//! 2. A checkpoint *as of the cut*: D = flushed = cut, each queue's count
//!    and the index position at the cut. It claims less than is on disk,
//!    so it is true of the log before the cut as well as after: a crash
//!    now recovers the old log whole (recovery scans from the cut and
//!    finds the old records valid); the caller never heard "done" and
//!    truncates again after the restart.
//! 3. The commit point: the segment holding the cut is zeroed from the
//!    cut and fsynced (`CommitLog::truncate`). From now on any recovery
//!    scans from D = cut, finds zeroes at once and ends the log there; it
//!    then deletes later segments, cuts consume-queue entries that point
//!    past the end, rebuilds the index from the checkpoint's position and
//!    drops epochs that start past the end. Nothing past the cut can come
//!    back, whichever of the steps below a crash interrupts.
//! 4. Later segments go (highest first, each removal fsynced: never a
//!    gap), then the consume queues' and the index's entries from the
//!    cut, the epochs from the cut; the marks move back; a final
//!    checkpoint.
//!
//! No intent file is needed: step 2 makes every state before the commit
//! point "not truncated", and recovery itself completes every state
//! after it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferromq_protocol::CommitLogOffset;

use super::StoreRole;
use crate::checkpoint::{self, Checkpoint, QueueMark};
use crate::checkpointer::{self, Mode};
use crate::consume_queue::ConsumeQueue;
use crate::error::StoreError;
use crate::index::IndexState;
use crate::scan::{scan_counted, ScanStats, StopReason};
use crate::shared::Shared;
use crate::MessageStore;

impl MessageStore {
    /// Removes every commit-log byte at or past `offset` (a record
    /// boundary), and everything that points there: consume-queue and
    /// index entries, epochs that start there or later. The checkpoint,
    /// the store's written, flushed and dispatched offsets and every
    /// queue's max offset move back; a queue left with no message at all
    /// is removed. Afterwards the store is as if those records had never
    /// been appended, also after a crash at any point of it (see the
    /// module docs): the next append (replicated, or after a promotion,
    /// a producer's) goes at `offset`. Truncating to the log's end only
    /// trims the epochs.
    ///
    /// For a slave (the role must be `Slave`), on connecting to a master,
    /// before it takes the master's bytes; the slave's writer must be idle
    /// (no `append_replicated` in flight): the writer is held still
    /// meanwhile, so a chunk still queued is refused when it gets to it
    /// (`OffsetMismatch`). Reads may go on; one that raced the truncation
    /// may still return a record being cut. Blocking: it scans up to one
    /// segment to check `offset`, fsyncs files and writes checkpoints;
    /// call it from `spawn_blocking`.
    ///
    /// # Errors
    /// `WrongRole` on a master; `OffsetOutOfRange` below the log's start
    /// or beyond its end; `NotRecordBoundary`; `Poisoned`; `ShuttingDown`;
    /// `Corrupt` or `Io` reading or changing the files (the store is then
    /// poisoned if the cut had begun: the next open completes it).
    pub fn truncate_to(&self, offset: CommitLogOffset) -> Result<(), StoreError> {
        let s = &self.shared;
        let role = s.role.get();
        if role != StoreRole::Slave {
            return Err(StoreError::WrongRole {
                op: "truncation",
                role,
            });
        }
        // In the order retention, checkpoints and the writer take them.
        let _retention = s.retention.hold();
        let mut last = s.checkpoint_lock.lock();
        // Holding the offset table stops the writer between groups.
        let mut offsets = s.offsets.lock();
        settle(s)?;
        let cut = offset.get();
        let (min, end) = (s.log.min_offset(), s.written.load(Ordering::Acquire));
        if cut < min || cut > end {
            return Err(StoreError::OffsetOutOfRange {
                offset: cut,
                min,
                end,
            });
        }
        if cut < end {
            check_boundary(s, cut)?;
            checkpointer::checkpoint_locked(s, &mut last, Mode::Force)?;
            let at_cut = AtCut::find(s, cut)?;
            checkpoint::write(&s.config.dir, &at_cut.checkpoint(cut))?;
            *last = cut;
            #[cfg(any(test, feature = "fault-injection"))]
            crash_point(s, crate::CrashPoint::TruncateBeforeCut)?;
            if let Err(e) = cut_at(s, cut, &at_cut) {
                if !s.halted() {
                    // Half cut in memory: stop writing; the next open
                    // completes the cut from the files.
                    s.poison(format!("truncation to {cut} failed: {e}"));
                }
                return Err(e);
            }
            offsets.clear();
            for cq in s.cqs.all() {
                offsets
                    .entry(cq.topic().clone())
                    .or_default()
                    .insert(cq.queue_id(), cq.max());
            }
            checkpointer::checkpoint_locked(s, &mut last, Mode::Force)?;
            tracing::warn!(from = end, to = cut, "truncated the commit log");
        }
        s.epochs.cut(cut)?;
        drop(offsets);
        s.allocator.wake.notify();
        Ok(())
    }
}

/// Flushes and dispatches everything written (the writer is held).
pub(super) fn settle(s: &Shared) -> Result<(), StoreError> {
    crate::flusher::flush_log(s)?;
    let _ = crate::dispatch::dispatch_visible(s);
    if let Some(m) = s.poison_message() {
        return Err(StoreError::Poisoned(m));
    }
    if s.halted() {
        return Err(StoreError::ShuttingDown);
    }
    if s.dispatched.load(Ordering::Acquire) != s.written.load(Ordering::Acquire) {
        return Err(StoreError::Timeout(
            "waiting for written records to be dispatched",
        ));
    }
    Ok(())
}

/// Refuses a cut inside a record: scans the cut's segment from its start
/// (always a record boundary) up to the cut.
fn check_boundary(s: &Shared, cut: u64) -> Result<(), StoreError> {
    let base = s.log.segment_base(cut);
    let (pos, why) = scan_counted(
        &s.log,
        base,
        Some(cut),
        &mut ScanStats::default(),
        |_, _| Ok(()),
    )?;
    match why {
        StopReason::Limit if pos == cut => Ok(()),
        StopReason::Limit | StopReason::SegmentBoundary => Err(StoreError::NotRecordBoundary(cut)),
        StopReason::Unwritten | StopReason::Invalid(_) => Err(StoreError::Corrupt(format!(
            "the commit log is not valid between {base} and the cut at {cut} ({why:?} at {pos})"
        ))),
    }
}

/// Where the consume queues and the index stand at the cut.
struct AtCut {
    /// Each queue and its max offset at the cut.
    queues: Vec<(Arc<ConsumeQueue>, u64)>,
    index: IndexState,
}

impl AtCut {
    fn find(s: &Shared, cut: u64) -> Result<Self, StoreError> {
        let mut queues = Vec::new();
        for cq in s.cqs.all() {
            let n = cq.first_at_or_above(cut)?;
            queues.push((cq, n));
        }
        Ok(Self {
            queues,
            index: s.index.position_at(cut)?,
        })
    }

    /// The checkpoint of the store as of the cut. Queues left with no
    /// message ever are not in it (they go).
    fn checkpoint(&self, cut: u64) -> Checkpoint {
        Checkpoint {
            flushed: cut,
            cq_consistent: cut,
            index: self.index,
            queues: self
                .queues
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(cq, n)| QueueMark {
                    topic: cq.topic().clone(),
                    queue_id: cq.queue_id(),
                    count: *n,
                    min: cq.min().min(*n),
                })
                .collect(),
        }
    }
}

/// Moves the written, flushed and dispatched marks to `to` (a cut or a
/// reset): `dispatched` last and within a dispatch round, so no dispatch
/// starts from a mark above the others. The writer is held.
pub(super) fn marks_to(s: &Shared, to: u64) {
    {
        let _round = s.dispatch.round.lock();
        s.written.store(to, Ordering::Release);
        s.flushed.store(to, Ordering::Release);
        s.dispatched.store(to, Ordering::Release);
    }
    s.flush_state.send_modify(|st| {
        st.flushed = to;
        st.dispatched = to;
    });
}

/// Steps 3 and 4 of the module docs, the writer held and the checkpoint
/// as of the cut written.
fn cut_at(s: &Shared, cut: u64, at: &AtCut) -> Result<(), StoreError> {
    // The marks first, so no reader (nor `read_raw`) asks for what goes.
    marks_to(s, cut);
    s.log.truncate(cut)?;
    #[cfg(any(test, feature = "fault-injection"))]
    crash_point(s, crate::CrashPoint::TruncateAfterCut)?;
    for (cq, n) in &at.queues {
        cq.cut(*n)?;
        if *n == 0 {
            s.cqs.remove_unused(cq.topic().as_str(), cq.queue_id())?;
        }
    }
    s.index.cut(at.index)?;
    Ok(())
}

/// A test's injected crash: the store halts as a killed process would.
#[cfg(any(test, feature = "fault-injection"))]
pub(super) fn crash_point(s: &Shared, p: crate::CrashPoint) -> Result<(), StoreError> {
    if s.faults.crash_here(p) {
        s.halt();
        return Err(StoreError::ShuttingDown);
    }
    Ok(())
}
