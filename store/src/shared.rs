//! State shared by the store's threads and its callers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use ferromq_protocol::{QueueId, TopicName};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::commit_log::CommitLog;
use super::config::{FlushMode, StoreConfig};
use super::consume_queue::ConsumeQueues;
use super::dispatch::DispatchState;
use super::epoch::Epochs;
#[cfg(any(test, feature = "fault-injection"))]
use super::hooks::Faults;
use super::index::Index;
use super::replica::RoleCell;
use super::retention::Retention;
use super::signal::Inbox;
use super::types::{ArrivalListener, StoreStats};
use super::write_queue::WriteQueue;

/// What `append` callers wait on: their batch flushed (sync mode) and
/// dispatched, or the store poisoned or halted.
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

/// What recovery hands over to the running store.
pub(crate) struct Parts {
    pub(crate) log: CommitLog,
    pub(crate) cqs: ConsumeQueues,
    pub(crate) index: Index,
    pub(crate) epochs: Epochs,
    /// End of the log.
    pub(crate) end: u64,
    pub(crate) recovery: RecoveryStats,
}

/// The store's state that more than one thread (or a thread and the
/// store's callers) touches; each field says who and why. State of one
/// stage is grouped with that stage's code: each background thread's
/// [`Inbox`], the dispatch round's [`DispatchState`] (`dispatch`),
/// retention's [`Retention`] (`retention`) and the test hooks (`hooks`).
/// What a thread uses alone stays in its own loop (the writer's position
/// and scratch buffer, for one).
pub(crate) struct Shared {
    /// Fixed at open; read by every thread.
    pub(crate) config: StoreConfig,
    /// The writer appends, the allocator creates segments ahead of it,
    /// retention deletes them from the front, flushes fsync and readers
    /// read: it synchronises itself (see `commit_log`).
    pub(crate) log: CommitLog,
    /// Dispatch appends, readers read, checkpoints fsync, retention trims
    /// and `delete_topic` removes: the queues synchronise themselves.
    pub(crate) cqs: ConsumeQueues,
    /// Dispatch adds, queries walk, checkpoints persist and retention
    /// deletes old files: the index synchronises itself.
    pub(crate) index: Index,
    /// The epoch history: `begin_epoch` adds, truncation cuts, slaves'
    /// handshakes read. It synchronises itself.
    pub(crate) epochs: Epochs,
    /// What recovery read at open; fixed, reported by `stats`.
    pub(crate) recovery: RecoveryStats,
    /// The writer's inbox: the channel, bounded in bytes, from `append`
    /// callers to the writer thread.
    pub(crate) queue: WriteQueue,
    /// Master or slave: read by every append (which kind it takes) and by
    /// the writer per group; set by `set_role` while it holds `offsets`.
    pub(crate) role: RoleCell,
    /// Next queue offset per queue: the writer's, held for a whole write
    /// group. Behind a lock only so that `delete_topic` can hold the writer
    /// still while the topic's queues go.
    pub(crate) offsets: Mutex<OffsetTable>,
    /// End of the data written to segments (pwrite done). Only the writer
    /// moves it; every stage reads it.
    pub(crate) written: AtomicU64,
    /// End of the data covered by a successful fdatasync. Moved by the
    /// flusher, and by checkpoints in async mode; read by dispatch,
    /// checkpoints and retention.
    pub(crate) flushed: AtomicU64,
    /// Consume queues and index hold every record below this. Moved by
    /// dispatch rounds (on the flusher, writer or dispatcher thread); read
    /// by checkpoints, retention and `delete_topic`.
    pub(crate) dispatched: AtomicU64,
    /// Published after every flush and dispatch round, and on poisoning or
    /// a halt: the channel `append` callers wait on for their batch.
    pub(crate) flush_state: watch::Sender<FlushState>,
    /// Why the store was poisoned: set by whichever thread failed (the lock
    /// keeps the first reason), read by every caller refused afterwards.
    poison: Mutex<Option<String>>,
    /// Whether `poison` is set: the cheap check on every append and in
    /// every thread's loop.
    poisoned: AtomicBool,
    /// Crash-like stop (drop, a test's crash): every thread exits at once,
    /// nothing more is flushed.
    halted: AtomicBool,
    /// Serialises checkpoints (checkpointer thread, `delete_topic`,
    /// retention, shutdown); holds the cq-consistent offset of the last one
    /// written, below which retention may delete.
    pub(crate) checkpoint_lock: Mutex<u64>,
    /// Dispatching: fed by the writer, run one round at a time by the
    /// flusher, the writer or the dispatcher thread.
    pub(crate) dispatch: DispatchState,
    /// Retention: its thread and `delete_expired_now` run passes; appends
    /// read its disk-full switch.
    pub(crate) retention: Retention,
    /// Woken by the writer after each write (sync mode) and by `stop`.
    pub(crate) flusher: Inbox,
    /// Woken only by `stop` and on failure: the live path dispatches on
    /// the flusher or the writer; this thread is the backstop.
    pub(crate) dispatcher: Inbox,
    /// Woken only by `stop` and on failure; runs on its interval.
    pub(crate) checkpointer: Inbox,
    /// Woken by the writer after a roll, so the next segment is made early.
    pub(crate) allocator: Inbox,
    /// Woken only by `stop` and on failure; runs on its interval.
    pub(crate) cleaner: Inbox,
    /// Counters bumped (relaxed) by the threads and readers, read by
    /// `stats`.
    pub(crate) stats: Counters,
    /// Set by tests through `MessageStore`, read by the threads they slow
    /// down, fail or stop.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) faults: Faults,
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
            epochs,
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
        let retention = Retention::new(config.dir.clone());
        Self {
            config,
            log,
            cqs,
            index,
            epochs,
            recovery,
            queue: WriteQueue::new(),
            role: RoleCell::default(),
            offsets: Mutex::new(offsets),
            written: AtomicU64::new(end),
            flushed: AtomicU64::new(end),
            dispatched: AtomicU64::new(end),
            flush_state,
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            halted: AtomicBool::new(false),
            checkpoint_lock: Mutex::new(end),
            dispatch: DispatchState::new(listener),
            retention,
            flusher: Inbox::default(),
            dispatcher: Inbox::default(),
            checkpointer: Inbox::default(),
            allocator: Inbox::default(),
            cleaner: Inbox::default(),
            stats: Counters::default(),
            #[cfg(any(test, feature = "fault-injection"))]
            faults: Faults::default(),
        }
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
        self.halted.load(Ordering::Acquire)
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
        self.halted.store(true, Ordering::Release);
        self.queue.halt();
        self.flush_state.send_modify(|s| s.halted = true);
        self.wake_all();
    }

    pub(crate) fn wake_all(&self) {
        for inbox in [
            &self.flusher,
            &self.dispatcher,
            &self.checkpointer,
            &self.allocator,
            &self.cleaner,
        ] {
            inbox.wake.notify();
        }
        self.dispatch.progress.notify();
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
            disk_full: self.retention.disk_full(),
            direct_io: self.log.direct(),
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_read_ahead: cache.read_ahead,
        }
    }
}
