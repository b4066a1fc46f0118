//! State shared by the store's threads and its callers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use ferromq_protocol::{QueueId, TopicName};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::commit_log::CommitLog;
use super::config::{FlushMode, StoreConfig};
use super::consume_queue::ConsumeQueues;
use super::disk::DiskMonitor;
use super::dispatch::DispatchBatch;
use super::error::StoreError;
use super::index::Index;
use super::signal::Signal;
use super::types::{ArrivalListener, StoreStats};
use super::write_queue::WriteQueue;

/// What `append` callers wait on in sync mode.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlushState {
    pub(crate) flushed: u64,
    /// Commit-log offset up to which consume-queue entries exist (readable).
    pub(crate) dispatched: u64,
    pub(crate) poisoned: bool,
    pub(crate) halted: bool,
}

/// Next queue offset per queue. Owned by the writer, which holds the lock
/// for a whole write group; `delete_topic` takes it to stop the writer while
/// it removes a topic.
pub(crate) type OffsetTable = HashMap<TopicName, HashMap<QueueId, u64>>;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) appends: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) write_groups: AtomicU64,
    pub(crate) read_calls: AtomicU64,
    pub(crate) segments_deleted: AtomicU64,
}

/// What recovery read of the commit log at open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecoveryStats {
    pub(crate) scan_from: u64,
    pub(crate) bytes_read: u64,
    /// Lowest commit-log offset read; `u64::MAX` if nothing was read.
    pub(crate) lowest_read: u64,
}

/// Stop requests, checked by each thread's loop.
#[derive(Default)]
pub(crate) struct StopFlags {
    pub(crate) flusher: AtomicBool,
    pub(crate) dispatcher: AtomicBool,
    pub(crate) checkpointer: AtomicBool,
    pub(crate) allocator: AtomicBool,
    pub(crate) cleaner: AtomicBool,
    /// Crash-like stop: every thread exits at once, nothing more is flushed.
    pub(crate) halt: AtomicBool,
}

/// What recovery hands over to the running store.
pub(crate) struct Parts {
    pub(crate) log: CommitLog,
    pub(crate) cqs: ConsumeQueues,
    pub(crate) index: Index,
    /// End of the log.
    pub(crate) end: u64,
    pub(crate) recovery: RecoveryStats,
}

pub(crate) struct Shared {
    pub(crate) config: StoreConfig,
    pub(crate) log: CommitLog,
    pub(crate) cqs: ConsumeQueues,
    pub(crate) index: Index,
    pub(crate) disk: DiskMonitor,
    /// Appends are refused while set (usage above `disk_reject_ratio`).
    pub(crate) disk_full: AtomicBool,
    pub(crate) recovery: RecoveryStats,
    pub(crate) listener: Arc<dyn ArrivalListener>,
    pub(crate) queue: WriteQueue,
    pub(crate) offsets: Mutex<OffsetTable>,
    /// End of the data written to segments (pwrite done).
    pub(crate) written: AtomicU64,
    /// End of the data covered by a successful fdatasync.
    pub(crate) flushed: AtomicU64,
    /// Consume queues hold every record below this offset.
    pub(crate) dispatched: AtomicU64,
    /// Published after every flush so sync-mode appends can wait for theirs.
    pub(crate) flush_state: watch::Sender<FlushState>,
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    /// Written batches waiting to become visible, in log order.
    pub(crate) pending: Mutex<VecDeque<DispatchBatch>>,
    /// Held by the dispatcher while it applies a round, so a checkpoint sees
    /// `dispatched` and the queues' sizes from the same instant.
    pub(crate) dispatch_lock: Mutex<()>,
    /// Serialises checkpoints (timer, delete_topic, shutdown); holds the
    /// cq-consistent offset of the last one written.
    pub(crate) checkpoint_lock: Mutex<u64>,
    /// One retention pass at a time (timer or `delete_expired_now`).
    pub(crate) retention_lock: Mutex<()>,
    pub(crate) wake_flusher: Signal,
    pub(crate) wake_dispatcher: Signal,
    pub(crate) wake_checkpointer: Signal,
    /// Wakes the allocator after a roll, so the next segment is made early.
    pub(crate) wake_allocator: Signal,
    pub(crate) wake_cleaner: Signal,
    /// Notified after each dispatch round.
    pub(crate) dispatch_progress: Signal,
    pub(crate) stop: StopFlags,
    pub(crate) stats: Counters,
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fail_next_fsync: AtomicBool,
    /// Added before every commit-log fdatasync (slow-disk simulation).
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fsync_delay: Mutex<std::time::Duration>,
    /// Added before every commit-log write (a device that stalls writes).
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) write_delay: Mutex<std::time::Duration>,
    /// Added to the wall clock when retention judges a segment's age.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) clock_skew: Mutex<std::time::Duration>,
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) crash_point: Mutex<Option<super::hooks::CrashPoint>>,
}

impl Shared {
    pub(crate) fn new(
        config: StoreConfig,
        parts: Parts,
        listener: Arc<dyn ArrivalListener>,
    ) -> Self {
        let Parts {
            log,
            cqs,
            index,
            end,
            recovery,
        } = parts;
        let mut offsets = OffsetTable::new();
        for cq in cqs.all() {
            offsets
                .entry(cq.topic().clone())
                .or_default()
                .insert(cq.queue_id(), cq.max());
        }
        let (flush_state, _) = watch::channel(FlushState {
            flushed: end,
            dispatched: end,
            ..FlushState::default()
        });
        let disk = DiskMonitor::new(config.dir.clone());
        Self {
            config,
            log,
            cqs,
            index,
            disk,
            disk_full: AtomicBool::new(false),
            recovery,
            listener,
            queue: WriteQueue::new(),
            offsets: Mutex::new(offsets),
            written: AtomicU64::new(end),
            flushed: AtomicU64::new(end),
            dispatched: AtomicU64::new(end),
            flush_state,
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            pending: Mutex::new(VecDeque::new()),
            dispatch_lock: Mutex::new(()),
            checkpoint_lock: Mutex::new(end),
            retention_lock: Mutex::new(()),
            wake_flusher: Signal::default(),
            wake_dispatcher: Signal::default(),
            wake_checkpointer: Signal::default(),
            wake_allocator: Signal::default(),
            wake_cleaner: Signal::default(),
            dispatch_progress: Signal::default(),
            stop: StopFlags::default(),
            stats: Counters::default(),
            #[cfg(any(test, feature = "fault-injection"))]
            fail_next_fsync: AtomicBool::new(false),
            #[cfg(any(test, feature = "fault-injection"))]
            fsync_delay: Mutex::new(std::time::Duration::ZERO),
            #[cfg(any(test, feature = "fault-injection"))]
            write_delay: Mutex::new(std::time::Duration::ZERO),
            #[cfg(any(test, feature = "fault-injection"))]
            clock_skew: Mutex::new(std::time::Duration::ZERO),
            #[cfg(any(test, feature = "fault-injection"))]
            crash_point: Mutex::new(None),
        }
    }

    /// Whether the test hook asks for a crash at `p`; if so the store is
    /// halted (like a dead process) before this returns.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fn crash_here(&self, p: super::hooks::CrashPoint) -> bool {
        if *self.crash_point.lock() != Some(p) {
            return false;
        }
        tracing::warn!(point = ?p, "injected crash");
        true
    }

    /// Where consume queues may be built up to: durable data in sync mode
    /// (so no consumer sees a message a crash could take back), written data
    /// in async mode.
    pub(crate) fn visible(&self) -> u64 {
        match self.config.flush {
            FlushMode::Sync => self.flushed.load(Ordering::Acquire),
            FlushMode::Async => self.written.load(Ordering::Acquire),
        }
    }

    pub(crate) fn halted(&self) -> bool {
        self.stop.halt.load(Ordering::Acquire)
    }

    pub(crate) fn poison_message(&self) -> Option<String> {
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.poison.lock().clone()
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Refuses all further writes. After a failed fsync the kernel may have
    /// dropped the dirty pages, so a later "successful" fsync would lie:
    /// nothing is retried until a restart recovers from what is on disk.
    pub(crate) fn poison(&self, why: String) {
        {
            let mut p = self.poison.lock();
            if p.is_none() {
                tracing::error!(reason = %why, "store poisoned: refusing writes until restart");
                *p = Some(why);
            }
            self.poisoned.store(true, Ordering::Release);
        }
        self.flush_state.send_modify(|s| s.poisoned = true);
        self.wake_all();
    }

    /// Crash-like stop: threads exit without flushing more.
    pub(crate) fn halt(&self) {
        self.stop.halt.store(true, Ordering::Release);
        self.queue.halt();
        self.flush_state.send_modify(|s| s.halted = true);
        self.wake_all();
    }

    pub(crate) fn wake_all(&self) {
        self.wake_flusher.notify();
        self.wake_dispatcher.notify();
        self.wake_checkpointer.notify();
        self.wake_allocator.notify();
        self.wake_cleaner.notify();
        self.dispatch_progress.notify();
    }

    /// fdatasyncs the log up to what is written now and publishes it. Used by
    /// the flusher, and by checkpoints in async mode (which must not record a
    /// consume-queue position beyond the durable log).
    pub(crate) fn flush_log(&self) -> Result<(), StoreError> {
        if let Some(m) = self.poison_message() {
            return Err(StoreError::Poisoned(m));
        }
        let target = self.written.load(Ordering::Acquire);
        let from = self.flushed.load(Ordering::Acquire);
        if target <= from {
            return Ok(());
        }
        match self.sync_log(from, target) {
            Ok(n) => {
                self.stats.fsyncs.fetch_add(n, Ordering::Relaxed);
                let now = self.flushed.fetch_max(target, Ordering::AcqRel).max(target);
                // Recorded without waking anyone: appends wait for their
                // dispatch, which in sync mode follows the fdatasync (and
                // notifies), and in async mode does not wait for it at all.
                self.flush_state.send_if_modified(|s| {
                    s.flushed = s.flushed.max(now);
                    false
                });
                Ok(())
            }
            Err(e) => {
                let msg = format!("commit-log fdatasync failed: {e}");
                self.poison(msg.clone());
                Err(StoreError::Poisoned(msg))
            }
        }
    }

    fn sync_log(&self, from: u64, to: u64) -> std::io::Result<u64> {
        #[cfg(any(test, feature = "fault-injection"))]
        {
            let delay = *self.fsync_delay.lock();
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            if self.fail_next_fsync.swap(false, Ordering::AcqRel) {
                return Err(std::io::Error::other("injected fdatasync failure"));
            }
        }
        self.log.sync_range(from, to)
    }

    pub(crate) fn stats(&self) -> StoreStats {
        let c = &self.stats;
        let cache = self.log.cache_stats();
        StoreStats {
            appends: c.appends.load(Ordering::Relaxed),
            messages: c.messages.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            write_groups: c.write_groups.load(Ordering::Relaxed),
            written_offset: self.written.load(Ordering::Acquire),
            flushed_offset: self.flushed.load(Ordering::Acquire),
            dispatched_offset: self.dispatched.load(Ordering::Acquire),
            poisoned: self.is_poisoned(),
            read_calls: c.read_calls.load(Ordering::Relaxed),
            recovery_scan_from: self.recovery.scan_from,
            recovery_scanned_bytes: self.recovery.bytes_read,
            recovery_lowest_read: self.recovery.lowest_read,
            segments_deleted: c.segments_deleted.load(Ordering::Relaxed),
            spare_segments: self.log.spare_count(),
            disk_full: self.disk_full.load(Ordering::Acquire),
            direct_io: self.log.direct(),
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_read_ahead: cache.read_ahead,
        }
    }
}
