//! Consume queues: one per (topic, queue id), each an index into the
//! commit log. Entry `i` of a queue is the message with queue offset `i`:
//! 20 bytes (`entry`) pointing at its record, in fixed-size files named by
//! the byte offset of their first entry (entry index × 20, as in RocketMQ),
//! under `consumequeue/<topic>/<queue id>/`.
//!
//! * this file: one queue ([`ConsumeQueue`]), its appends, reads, fsyncs
//!   and retention;
//! * `entry`: the 20-byte entry;
//! * `load`: loading a queue at open and cutting it back to entries valid
//!   against the recovered commit log;
//! * `set`: all queues of the store, by topic and queue id.
//!
//! Only dispatching (one round at a time, see `dispatch`) or recovery,
//! before the store is shared, appends; readers take the `files` read lock
//! and `pread`. `max` is published with Release after the entries are
//! written, so a reader that sees `max` can read every entry below it.
//!
//! Retention moves `min` up (to the first entry pointing at or above the
//! commit log's new start) and then deletes files that lie wholly below it;
//! a reader that loses that race sees `min` above its offset and answers
//! "offset too small" instead of an error.

mod entry;
mod load;
mod set;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ferromq_protocol::{QueueId, TopicName};
use parking_lot::RwLock;

use crate::error::{io_at, StoreError};
use crate::fsutil::{create_dir_durable, file_name, sync_dir};

pub(crate) use entry::{CqEntry, CQ_ENTRY_LEN};
pub(crate) use set::{ConsumeQueues, KnownQueue};

/// Directory of the consume queues under the store root.
pub(crate) const CONSUMEQUEUE_DIR: &str = "consumequeue";

pub(crate) struct CqFile {
    /// Queue offset of the file's first entry.
    pub(crate) first: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

impl CqFile {
    pub(crate) fn open(path: PathBuf, first: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at("open consume-queue file", &path))?;
        Ok(Self { first, path, file })
    }

    /// Reads `buf.len()` bytes at `pos`, zeroes past the end of the file.
    pub(crate) fn read_zero_filled(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        crate::fsutil::read_zero_filled(&self.file, &self.path, "read consume-queue file", buf, pos)
    }
}

/// Where a loaded queue stands.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bounds {
    pub(crate) min: u64,
    pub(crate) max: u64,
    /// Entries below this are known to be fsynced.
    pub(crate) synced: u64,
}

pub(crate) struct ConsumeQueue {
    topic: TopicName,
    queue_id: QueueId,
    dir: PathBuf,
    per_file: u64,
    /// Files in queue order, contiguous. Write-locked only to add a file
    /// (dispatcher) or drop old ones (retention).
    files: RwLock<Vec<Arc<CqFile>>>,
    /// First entry still served (the queue's min offset).
    min: AtomicU64,
    /// One past the last entry (the queue's max offset).
    max: AtomicU64,
    /// Entries below this are fsynced (the checkpoint relies on it).
    synced: AtomicU64,
    /// Store timestamp of the last entry's record; 0 = not known yet.
    last_ts: AtomicU64,
}

impl ConsumeQueue {
    /// A new, empty queue; its directory is created durably.
    pub(crate) fn create(
        dir: PathBuf,
        topic: TopicName,
        queue_id: QueueId,
        per_file: u64,
    ) -> io::Result<Self> {
        create_dir_durable(&dir)?;
        Ok(Self::with_files(
            dir,
            topic,
            queue_id,
            per_file,
            Vec::new(),
            Bounds::default(),
        ))
    }

    pub(crate) fn with_files(
        dir: PathBuf,
        topic: TopicName,
        queue_id: QueueId,
        per_file: u64,
        files: Vec<Arc<CqFile>>,
        b: Bounds,
    ) -> Self {
        Self {
            topic,
            queue_id,
            dir,
            per_file,
            files: RwLock::new(files),
            min: AtomicU64::new(b.min.min(b.max)),
            max: AtomicU64::new(b.max),
            synced: AtomicU64::new(b.synced),
            last_ts: AtomicU64::new(0),
        }
    }

    pub(crate) fn topic(&self) -> &TopicName {
        &self.topic
    }

    pub(crate) fn queue_id(&self) -> QueueId {
        self.queue_id
    }

    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Acquire)
    }

    /// First offset still served: entries below it point below the start
    /// of the commit log.
    pub(crate) fn min(&self) -> u64 {
        self.min.load(Ordering::Acquire)
    }

    /// Moves `min` to the first entry whose record is at or above
    /// `log_min`. Returns the new min.
    pub(crate) fn advance_min(&self, log_min: u64) -> Result<u64, StoreError> {
        let hi = self.first_at_or_above(log_min)?;
        Ok(self.min.fetch_max(hi, Ordering::AcqRel).max(hi))
    }

    /// The first entry from `min` whose record is at or above commit-log
    /// offset `at`, `max` if none (binary search: entries are in log
    /// order).
    pub(crate) fn first_at_or_above(&self, at: u64) -> Result<u64, StoreError> {
        let (mut lo, max) = (self.min(), self.max());
        let below = |idx: u64| -> Result<bool, StoreError> {
            Ok(self.read(idx, 1)?.first().is_some_and(|e| e.offset < at))
        };
        if lo >= max || !below(lo)? {
            return Ok(lo);
        }
        // Invariant: entry `lo` is below, entry `hi` is not (or is max).
        let mut hi = max;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if below(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(hi)
    }

    /// Truncation: forgets the entries from `n` on (`n` at least `min`).
    /// `max` moves first, so readers stop asking for them; then files
    /// wholly past `n` go and the rest of the one holding it is zeroed, so
    /// no stale entry can pass for a new one after a crash. Dispatch is
    /// idle meanwhile (the caller holds the writer and has dispatched
    /// everything).
    pub(crate) fn cut(&self, n: u64) -> Result<(), StoreError> {
        if n >= self.max() {
            return Ok(());
        }
        self.max.store(n, Ordering::Release);
        self.min.fetch_min(n, Ordering::AcqRel);
        self.synced.fetch_min(n, Ordering::AcqRel);
        // Not known any more; read again from the log when asked.
        self.last_ts.store(0, Ordering::Relaxed);
        let (doomed, partial) = {
            let mut files = self.files.write();
            let keep = files.partition_point(|f| f.first < n);
            let doomed: Vec<Arc<CqFile>> = files.drain(keep..).collect();
            (doomed, files.last().cloned())
        };
        for f in &doomed {
            std::fs::remove_file(&f.path).map_err(io_at("remove consume-queue file", &f.path))?;
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir)?;
        }
        if let Some(f) = partial.filter(|f| n < f.first + self.per_file) {
            f.file
                .set_len((n - f.first) * CQ_ENTRY_LEN)
                .and_then(|()| f.file.set_len(self.file_bytes()))
                .and_then(|()| f.file.sync_all())
                .map_err(io_at("truncate consume-queue file", &f.path))?;
        }
        Ok(())
    }

    /// Deletes the files that lie wholly below `min`. Returns how many.
    pub(crate) fn drop_files_below_min(&self) -> Result<usize, StoreError> {
        let min = self.min();
        let doomed: Vec<Arc<CqFile>> = {
            let mut files = self.files.write();
            let n = files
                .iter()
                .take_while(|f| f.first + self.per_file <= min)
                .count();
            files.drain(..n).collect()
        };
        for f in &doomed {
            match std::fs::remove_file(&f.path) {
                Ok(()) => {}
                // The topic was deleted meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at("remove consume-queue file", &f.path)(e).into()),
            }
        }
        if !doomed.is_empty() {
            match sync_dir(&self.dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(doomed.len())
    }

    /// On an empty queue only, in recovery or a slave's dispatch: the
    /// log's first record for it has queue offset `q` (retention deleted
    /// the older ones, or the slave's log starts after them), so the queue
    /// starts there. Files wholly below `q` go, so the rest stay
    /// contiguous.
    pub(crate) fn start_at(&self, q: u64) -> Result<(), StoreError> {
        self.max.store(q, Ordering::Release);
        self.min.store(q, Ordering::Release);
        self.synced.store(q, Ordering::Release);
        self.drop_files_below_min().map(|_| ())
    }

    pub(crate) fn last_timestamp(&self) -> u64 {
        self.last_ts.load(Ordering::Relaxed)
    }

    pub(crate) fn note_timestamp(&self, ts: u64) {
        self.last_ts.fetch_max(ts, Ordering::Relaxed);
    }

    fn file_bytes(&self) -> u64 {
        self.per_file * CQ_ENTRY_LEN
    }

    /// Appends entries for queue offsets `first..`; `first` must be `max`.
    /// One pwrite per file touched.
    pub(crate) fn append(
        &self,
        first: u64,
        entries: &[CqEntry],
        store_ts: u64,
    ) -> Result<(), StoreError> {
        let max = self.max();
        if first != max {
            return Err(StoreError::Corrupt(format!(
                "consume queue {}/{}: entry for queue offset {first} does not follow max offset {max}",
                self.topic, self.queue_id
            )));
        }
        let mut idx = first;
        let mut rest = entries;
        let mut buf = Vec::with_capacity(entries.len().min(4096) * CQ_ENTRY_LEN as usize);
        while !rest.is_empty() {
            let file = self.file_for_append(idx)?;
            let room = (file.first + self.per_file - idx) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            buf.clear();
            for e in now {
                e.encode_into(&mut buf);
            }
            file.file
                .write_all_at(&buf, (idx - file.first) * CQ_ENTRY_LEN)
                .map_err(io_at("write consume-queue file", &file.path))?;
            idx += now.len() as u64;
            rest = later;
        }
        self.max.store(idx, Ordering::Release);
        self.note_timestamp(store_ts);
        Ok(())
    }

    fn file_for_append(&self, idx: u64) -> io::Result<Arc<CqFile>> {
        if let Some(last) = self.files.read().last() {
            if idx < last.first + self.per_file {
                return Ok(last.clone());
            }
        }
        let first = idx - idx % self.per_file;
        let path = self.dir.join(file_name(first * CQ_ENTRY_LEN));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_at("create consume-queue file", &path))?;
        file.set_len(self.file_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_at("size consume-queue file", &path))?;
        sync_dir(&self.dir)?;
        let f = Arc::new(CqFile { first, path, file });
        self.files.write().push(f.clone());
        Ok(f)
    }

    /// Up to `n` entries from queue offset `from` (clamped to `max`).
    pub(crate) fn read(&self, from: u64, n: u64) -> Result<Vec<CqEntry>, StoreError> {
        let end = from.saturating_add(n).min(self.max());
        let mut out = Vec::with_capacity(end.saturating_sub(from) as usize);
        let mut idx = from;
        while idx < end {
            let file = self.file_holding(idx).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "consume queue {}/{}: no file holds queue offset {idx}",
                    self.topic, self.queue_id
                ))
            })?;
            let upto = end.min(file.first + self.per_file);
            let mut buf = vec![0u8; ((upto - idx) * CQ_ENTRY_LEN) as usize];
            file.file
                .read_exact_at(&mut buf, (idx - file.first) * CQ_ENTRY_LEN)
                .map_err(io_at("read consume-queue file", &file.path))?;
            out.extend(CqEntry::decode_all(&buf));
            idx = upto;
        }
        Ok(out)
    }

    /// The file holding queue offset `idx`. The lock is only held for the
    /// lookup, never across I/O.
    fn file_holding(&self, idx: u64) -> Option<Arc<CqFile>> {
        let files = self.files.read();
        let pos = files.partition_point(|f| f.first <= idx);
        pos.checked_sub(1)
            .and_then(|i| files.get(i))
            .filter(|f| idx < f.first + self.per_file)
            .cloned()
    }

    /// fdatasyncs the files holding entries `[synced, upto)`.
    pub(crate) fn sync(&self, upto: u64) -> io::Result<()> {
        let from = self.synced.load(Ordering::Acquire);
        if upto <= from {
            return Ok(());
        }
        let files: Vec<Arc<CqFile>> = self
            .files
            .read()
            .iter()
            .filter(|f| f.first < upto && f.first + self.per_file > from)
            .cloned()
            .collect();
        for f in files {
            f.file
                .sync_data()
                .map_err(io_at("fdatasync consume-queue file", &f.path))?;
        }
        self.synced.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }
}
