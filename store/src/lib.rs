//! FerroMQ's message store: a commit log in fixed-size segment files, one
//! consume queue per (topic, queue id), a key index, a checkpoint, and the
//! threads that write, flush, dispatch, checkpoint, pre-allocate and clean
//! up. It knows no sockets and no broker types: it takes batches already in
//! the record layout of `ferromq_protocol::record` and hands them back the
//! same way.
//!
//! # What it holds
//!
//! ```text
//! <dir>/commitlog/<base>              segments named by their first offset
//!                                     (commit_log, segment; record layout
//!                                     in the protocol crate)
//! <dir>/commitlog-spare/              deleted segments kept for reuse
//! <dir>/consumequeue/<topic>/<queue>/ 20-byte entries (consume_queue/)
//! <dir>/index/<base>                  keys and unique ids (index/)
//! <dir>/checkpoint                    how far log, queues and index are
//!                                     durable and consistent (checkpoint)
//! <dir>/abort                         exists while open: found at open,
//!                                     it means an unclean stop
//! <dir>/epochs                        (epoch, start offset) pairs (epoch)
//! <dir>/reset                         a slave's reset not yet finished
//! ```
//!
//! # How data flows
//!
//! ```text
//! append() ──validate (CRC, topic, sizes, key hashes)──▶ write queue
//!            (bounded in bytes; full: Busy)
//!   writer thread: assign commit-log + queue offsets in log order, stamp,
//!                  write the group ──▶ commitlog/<base>           [written]
//!   allocator thread: makes the next segment before the writer rolls into
//!                     it (a recycled spare, or a new file allocated ahead,
//!                     in sync mode prefilled with zeroes)
//!   flusher thread: fdatasync up to written, shared by every append
//!                   waiting (group commit)                         [flushed]
//!   dispatch, up to visible = flushed (sync mode) / written (async mode);
//!   run by the flusher (sync), the writer (async), and the dispatcher
//!   thread as the backstop:
//!        ──▶ consumequeue/ entries                              [dispatched]
//!        ──▶ index/ entries per key and unique id
//!        ──▶ ArrivalListener::on_arrival (wakes held pulls)
//!        ──▶ append() resolves: readable, and durable in sync mode
//!   checkpointer thread (1 s): fsync consume queues + index, write
//!                              `checkpoint`
//!   cleaner thread (retention_check_interval, 1 s): disk usage, retention
//! read() ──▶ consume-queue entries ──▶ one read per run of adjacent
//!            records, sliced (no copy per record), each verified
//! query_by_key() / query_by_unique_id() ──▶ index chain ──▶ read_at(offset)
//! read_raw() (master) ──▶ whole records and segment markers, up to flushed
//! append_replicated() (slave) ──check (CRC, stamps, markers)──▶ write queue
//!   writer thread: the master's bytes at the same offsets, no stamping,
//!                  a roll where a marker says ──▶ flush and dispatch as
//!                  above (queue offsets from the records' stamps)
//! ```
//!
//! **Cache.** With `direct_io` (the default, where the file system takes
//! it) the log is written and read with O_DIRECT through the store's own
//! block cache (`cache`): the blocks being written and the ones read
//! recently stay in memory, a reader catching up loads whole blocks with
//! read-ahead, and the page cache is left alone. Otherwise the log goes
//! through the page cache with pwrite and pread.
//!
//! **Recovery** (`recovery`, in `open`): the log is scanned from the
//! checkpoint's consistent offset, every record verified; the torn tail is
//! cut, and the consume queues and the index are loaded and refilled from
//! the log past that offset. A cut that would drop whole segments an
//! fdatasync had covered is refused instead.
//!
//! **Retention** (`retention`): whole segments leave the front of the log
//! once older than `file_reserved_time`, at `delete_when_hour` (at any
//! hour above `disk_clean_ratio`); above `disk_force_clean_ratio` the
//! oldest go even if younger. Queues move their min first, then files go.
//! Above `disk_reject_ratio` appends fail with `DiskFull`.
//!
//! Only visible entries are served, so in sync mode a consumer can never see
//! (or commit an offset past) a message that a crash could take back. An
//! fsync or write failure poisons the store: writes are refused until a
//! restart recovers from what is on disk; reads keep working.
//!
//! **Replication** (`replica`, `epoch`): a role (`StoreRole`) says which
//! kind of append a store takes. A slave cuts a tail its master never had
//! with `truncate_to` (crash-safe: a checkpoint as of the cut is written
//! before the log is zeroed from the cut, so recovery ends the log there
//! from then on), or starts over with `reset_to` (an intent file the next
//! open completes). `begin_epoch` and `agreed_end` keep and compare the
//! epoch histories.
//!
//! What the threads share, and why, is in `shared`; `docs/STORE.md`
//! describes the on-disk layout and the rules in full.

mod allocator;
mod append;
mod cache;
mod checkpoint;
mod checkpointer;
mod commit_log;
mod config;
mod consume_queue;
mod disk;
mod dispatch;
mod epoch;
mod error;
mod flusher;
mod fsutil;
#[cfg(any(test, feature = "fault-injection"))]
mod hooks;
mod index;
mod query;
mod read;
mod recovery;
mod replica;
mod retention;
mod scan;
mod segment;
mod shared;
mod signal;
mod types;
mod validate;
mod write_queue;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::{self, OpenOptions};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use ferromq_protocol::{QueueId, QueueOffset, TopicName};
use parking_lot::Mutex;

pub use config::{FlushMode, FlushModeError, StoreConfig, MIN_SEGMENT_SIZE};
pub use epoch::{agreed_end, EpochEntry, EpochError};
pub use error::{AppendError, Damage, StoreError};
#[cfg(any(test, feature = "fault-injection"))]
pub use hooks::CrashPoint;
pub use replica::{StoreRole, MAX_REPLICATED_CHUNK};
pub use types::{
    AppendResult, ArrivalListener, NoopListener, ReadResult, ReadStatus, RecordIter, Records,
    StoreStats,
};

use checkpointer::Mode;
use consume_queue::CONSUMEQUEUE_DIR;
use error::io_at;
use fsutil::{create_dir_durable, sync_dir};
use shared::Shared;

pub(crate) const COMMITLOG_DIR: &str = "commitlog";
/// Exists while a store is open; found at open, it means an unclean stop.
const ABORT_FILE: &str = "abort";

/// The message store. Share it as `Arc<MessageStore>`.
pub struct MessageStore {
    shared: Arc<Shared>,
    /// The store's threads; `None` once stopped. Held for the whole of
    /// `shutdown` so concurrent calls wait for the first one.
    workers: Arc<Mutex<Option<Workers>>>,
}

/// The store's threads by name, in the order they were started.
struct Workers(Vec<(&'static str, JoinHandle<()>)>);

impl Workers {
    /// Waits for the thread `name` to end.
    fn join(&mut self, name: &str) {
        if let Some(i) = self.0.iter().position(|(n, _)| *n == name) {
            let (n, h) = self.0.remove(i);
            join(n, h);
        }
    }

    /// Waits for every thread still held, in start order.
    fn join_all(self) {
        for (n, h) in self.0 {
            join(n, h);
        }
    }
}

const WRITER: &str = "ferromq-store-writer";
const FLUSHER: &str = "ferromq-store-flusher";
const DISPATCHER: &str = "ferromq-store-dispatch";
const CHECKPOINTER: &str = "ferromq-store-checkpoint";
const ALLOCATOR: &str = "ferromq-store-alloc";
const CLEANER: &str = "ferromq-store-clean";

impl MessageStore {
    /// Opens (creating if needed) and recovers the store in `config.dir`,
    /// then starts its threads. Blocking: call it from `spawn_blocking` or
    /// before the runtime starts.
    ///
    /// # Errors
    /// Invalid configuration, I/O errors, or data that cannot be recovered
    /// safely (segments that do not fit the configured size, a checkpoint
    /// claiming data that no segment holds).
    pub fn open(
        config: StoreConfig,
        listener: Arc<dyn ArrivalListener>,
    ) -> Result<Arc<Self>, StoreError> {
        config.validate()?;
        create_dir_durable(&config.dir)?;
        create_dir_durable(&config.dir.join(COMMITLOG_DIR))?;
        create_dir_durable(&config.dir.join(CONSUMEQUEUE_DIR))?;
        let abort = config.dir.join(ABORT_FILE);
        let unclean = abort.exists();
        // Marked before recovery changes anything, so a crash during
        // recovery is itself recovered from next time.
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&abort)
            .map_err(io_at("create", &abort))?;
        sync_dir(&config.dir)?;

        let parts = recovery::recover(&config, unclean)?;
        let shared = Arc::new(Shared::new(config, parts, listener));
        // Appends are refused from the start if the disk is already full.
        retention::measure(&shared);
        let workers = start(&shared)?;
        Ok(Arc::new(Self {
            shared,
            workers: Arc::new(Mutex::new(Some(workers))),
        }))
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// One past the last visible message of the queue; 0 if there is none.
    pub fn max_offset(&self, topic: &TopicName, queue_id: QueueId) -> QueueOffset {
        QueueOffset::new(
            self.shared
                .cqs
                .get(topic.as_str(), queue_id)
                .map_or(0, |cq| cq.max()),
        )
    }

    /// First message still stored in the queue: retention moves it past
    /// messages whose commit-log segments it deleted.
    pub fn min_offset(&self, topic: &TopicName, queue_id: QueueId) -> QueueOffset {
        QueueOffset::new(
            self.shared
                .cqs
                .get(topic.as_str(), queue_id)
                .map_or(0, |cq| cq.min()),
        )
    }

    /// Every topic with consume queues, and how many queues it needs (its
    /// highest queue id + 1), by name.
    pub fn topics_with_queues(&self) -> Vec<(TopicName, u32)> {
        let mut out: std::collections::BTreeMap<TopicName, u32> = Default::default();
        for cq in self.shared.cqs.all() {
            let n = out.entry(cq.topic().clone()).or_default();
            *n = (*n).max(cq.queue_id().get() + 1);
        }
        out.into_iter().collect()
    }

    /// Queue ids that have a consume queue for this topic.
    pub fn queue_ids(&self, topic: &TopicName) -> Vec<QueueId> {
        self.shared.cqs.queue_ids(topic.as_str())
    }

    /// Counters and positions.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats()
    }

    /// Makes the next commit-log fdatasync fail, to test poisoning.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_fsync_failure(&self) {
        self.shared
            .faults
            .fail_next_fsync
            .store(true, Ordering::Release);
    }

    /// Makes every later commit-log fdatasync take `delay` longer, to test
    /// flush timeouts.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_fsync_delay(&self, delay: std::time::Duration) {
        *self.shared.faults.fsync_delay.lock() = delay;
    }

    /// Makes every later commit-log write take `delay` longer (the writer
    /// sleeps before it), to test a device whose writes stall.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_write_delay(&self, delay: std::time::Duration) {
        *self.shared.faults.write_delay.lock() = delay;
    }

    /// Pretends the store's disk is this full (`None`: measure it again).
    /// Takes effect at once for `DiskFull`; retention sees it on its next
    /// pass (or `delete_expired_now`).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn set_disk_usage_override(&self, usage: Option<f64>) {
        *self.shared.retention.disk.usage_override.lock() = usage;
        retention::measure(&self.shared);
    }

    /// Moves retention's clock forward, so segments look older than they
    /// are (nothing else in the store uses it).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn advance_retention_clock(&self, by: std::time::Duration) {
        *self.shared.faults.clock_skew.lock() += by;
    }

    /// Makes the store stop at `point` as a crashed process would:
    /// `AfterSegmentRoll` halts every thread (the append that rolled gets
    /// `ShuttingDown`); `AfterFlushBeforeDispatch` stops only the
    /// dispatcher, so appends are still written, flushed and acknowledged
    /// (after `sync_flush_timeout`) but never indexed. Finish with a drop.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn set_crash_point(&self, point: Option<CrashPoint>) {
        *self.shared.faults.crash_point.lock() = point;
    }

    /// Runs a retention pass now, whatever the hour: deletes the segments
    /// older than `file_reserved_time` (and, above `disk_force_clean_ratio`,
    /// the oldest ones even if younger), moves every queue's min offset and
    /// deletes consume-queue and index files below the log's new start.
    /// Blocking; returns how many segments were deleted. The active segment
    /// and anything not yet flushed, dispatched and checkpointed are kept.
    ///
    /// # Errors
    /// `Poisoned`, or I/O errors deleting files or writing the checkpoint.
    pub fn delete_expired_now(&self) -> Result<usize, StoreError> {
        retention::pass(&self.shared, retention::Trigger::Now)
    }

    /// Drops the topic's consume queues (files removed); its commit-log
    /// records stay until retention. Blocking (waits for pending records of
    /// the topic to be dispatched, then writes a checkpoint, so recovery
    /// never brings the topic back); call it from `spawn_blocking`. Queue
    /// offsets of the topic start again at 0.
    ///
    /// # Errors
    /// `Poisoned` on a poisoned store, `Timeout` if dispatch does not catch
    /// up in time, I/O errors removing the files.
    pub fn delete_topic(&self, topic: &TopicName) -> Result<(), StoreError> {
        let s = &self.shared;
        let mut last = s.checkpoint_lock.lock();
        {
            // Holding the offset table stops the writer, so nothing new for
            // the topic can be written while its queues go away.
            let mut offsets = s.offsets.lock();
            let target = s.written.load(Ordering::Acquire);
            let caught_up = s.dispatch.progress.wait_until(
                s.config.sync_flush_timeout.max(write_queue::ADMIT_TIMEOUT),
                || s.dispatched.load(Ordering::Acquire) >= target || s.is_poisoned() || s.halted(),
            );
            if let Some(m) = s.poison_message() {
                return Err(StoreError::Poisoned(m));
            }
            if s.halted() {
                return Err(StoreError::ShuttingDown);
            }
            if !caught_up {
                return Err(StoreError::Timeout(
                    "waiting for the topic's messages to be dispatched",
                ));
            }
            offsets.remove(topic.as_str());
            if s.cqs.remove_topic(topic.as_str())? {
                tracing::info!(%topic, "deleted the topic's consume queues");
            }
        }
        checkpointer::checkpoint_locked(s, &mut last, Mode::Force)
    }

    /// Stops accepting appends (`ShuttingDown`), writes and fsyncs what was
    /// accepted, completes pending appends, fsyncs the consume queues, writes
    /// the checkpoint and removes the abort marker. Idempotent.
    ///
    /// # Errors
    /// `Poisoned` if a write or fsync failed (the abort marker then stays, so
    /// the next open recovers); I/O errors from the final checkpoint.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.shared.queue.close();
        let shared = self.shared.clone();
        let workers = self.workers.clone();
        tokio::task::spawn_blocking(move || stop(&shared, &workers))
            .await
            .map_err(StoreError::ShutdownTask)?
    }

    /// [`shutdown`](Self::shutdown) for code that cannot await (a `Drop`,
    /// a thread outside the runtime): blocks the calling thread while the
    /// store's threads finish. None of them needs the async runtime, so this
    /// is safe even on a runtime thread, though it stalls that thread.
    ///
    /// # Errors
    /// As [`shutdown`](Self::shutdown).
    pub fn shutdown_blocking(&self) -> Result<(), StoreError> {
        self.shared.queue.close();
        stop(&self.shared, &self.workers)
    }

    /// Stops the threads the way a crash would: queued appends are dropped,
    /// nothing more is flushed, no checkpoint, the abort marker stays.
    #[cfg(test)]
    pub(crate) fn crash(&self) {
        halt(&self.shared, &self.workers);
    }
}

impl Drop for MessageStore {
    /// Dropping a store that was not shut down is an unclean stop: the
    /// threads are halted and the next open recovers.
    fn drop(&mut self) {
        halt(&self.shared, &self.workers);
    }
}

/// The body of one of the store's threads.
type ThreadMain = fn(Arc<Shared>);

fn start(shared: &Arc<Shared>) -> Result<Workers, StoreError> {
    let stages: [(&'static str, ThreadMain); 6] = [
        (WRITER, writer::run),
        (FLUSHER, flusher::run),
        (DISPATCHER, dispatch::run),
        (CHECKPOINTER, checkpointer::run),
        (ALLOCATOR, allocator::run),
        (CLEANER, retention::run),
    ];
    let mut workers = Workers(Vec::with_capacity(stages.len()));
    for (name, f) in stages {
        match spawn(name, shared, f) {
            Ok(h) => workers.0.push((name, h)),
            Err(e) => {
                // Do not leave half a store running.
                shared.halt();
                workers.join_all();
                return Err(e);
            }
        }
    }
    Ok(workers)
}

fn spawn(
    name: &'static str,
    shared: &Arc<Shared>,
    f: ThreadMain,
) -> Result<JoinHandle<()>, StoreError> {
    let s = shared.clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // A panicking store thread (a bug, or a listener that panics)
            // must not silently stop writes or visibility: poison instead.
            let run = std::panic::AssertUnwindSafe(|| f(s.clone()));
            if std::panic::catch_unwind(run).is_err() {
                s.poison(format!("store thread {name} panicked"));
            }
        })
        .map_err(|source| StoreError::SpawnThread { name, source })
}

fn join(name: &str, h: JoinHandle<()>) {
    if h.join().is_err() {
        tracing::error!(thread = name, "store thread panicked");
    }
}

/// The orderly stop: each stage finishes before the next is told to stop,
/// so everything accepted is written, flushed and dispatched.
fn stop(s: &Shared, workers: &Mutex<Option<Workers>>) -> Result<(), StoreError> {
    let mut guard = workers.lock();
    let Some(mut w) = guard.take() else {
        return s
            .poison_message()
            .map_or(Ok(()), |m| Err(StoreError::Poisoned(m)));
    };
    // Retention and pre-allocation first: neither may touch files while
    // the final checkpoint is written.
    s.cleaner.request_stop();
    s.allocator.request_stop();
    w.join(CLEANER);
    w.join(ALLOCATOR);
    w.join(WRITER);
    s.flusher.request_stop();
    w.join(FLUSHER);
    s.dispatcher.request_stop();
    w.join(DISPATCHER);
    s.checkpointer.request_stop();
    w.join(CHECKPOINTER);
    // Pending sync appends whose flush never came (poisoned) are answered.
    s.flush_state.send_modify(|st| st.halted = true);

    if let Some(m) = s.poison_message() {
        return Err(StoreError::Poisoned(m));
    }
    checkpointer::checkpoint(s, Mode::Final)?;
    let abort = s.config.dir.join(ABORT_FILE);
    fs::remove_file(&abort).map_err(io_at("remove", &abort))?;
    sync_dir(&s.config.dir)?;
    tracing::info!(
        end = s.written.load(Ordering::Acquire),
        "store shut down cleanly"
    );
    Ok(())
}

fn halt(s: &Shared, workers: &Mutex<Option<Workers>>) {
    let Some(w) = workers.lock().take() else {
        return;
    };
    s.halt();
    w.join_all();
}
