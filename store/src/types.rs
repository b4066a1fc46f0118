//! Values the store hands to its callers.

use bytes::Bytes;
use ferromq_protocol::{CommitLogOffset, QueueId, QueueOffset, TopicName};

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// Queue offset of the first record of the batch.
    pub queue_offset: QueueOffset,
    /// Commit-log offset of the first record of the batch.
    pub commit_log_offset: CommitLogOffset,
    /// Records appended.
    pub count: u32,
}

/// Outcome of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// `records` holds at least one record.
    Found,
    /// The offset is the queue's max: nothing new yet.
    NoNewMessage,
    /// The offset is below the queue's min offset.
    OffsetTooSmall,
    /// The offset is beyond the queue's max offset.
    OffsetOverflow,
    /// The queue does not exist (yet).
    NoQueue,
}

/// Whole stored records in queue order, held as the runs they were read
/// in: records adjacent in the log share one buffer, and a record is
/// sliced out of it only when someone asks for it on its own. A pull's
/// answer is the runs back to back, without a copy when there is one run
/// (the usual case).
#[derive(Clone, Debug, Default)]
pub struct Records {
    /// The runs, each a whole number of records.
    runs: Vec<Bytes>,
    /// Each record's size, in order; they tile the runs.
    sizes: Vec<u32>,
}

impl Records {
    /// Room for `n` records.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            runs: Vec::new(),
            sizes: Vec::with_capacity(n),
        }
    }

    /// Adds a run holding records of `sizes` (which must add up to its
    /// length).
    pub(crate) fn push_run(&mut self, run: Bytes, sizes: impl IntoIterator<Item = u32>) {
        let before = self.sizes.len();
        self.sizes.extend(sizes);
        debug_assert_eq!(
            self.sizes[before..]
                .iter()
                .map(|&n| n as usize)
                .sum::<usize>(),
            run.len()
        );
        if !run.is_empty() {
            self.runs.push(run);
        }
    }

    /// Adds one record (a run of its own).
    pub fn push(&mut self, record: Bytes) {
        let n = u32::try_from(record.len()).unwrap_or(u32::MAX);
        self.push_run(record, [n]);
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Total bytes.
    pub fn bytes(&self) -> usize {
        self.runs.iter().map(Bytes::len).sum()
    }

    /// The records one by one (slices of the runs, no copy).
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            runs: self.runs.iter(),
            sizes: self.sizes.iter(),
            run: None,
            at: 0,
        }
    }

    /// The records one by one, collected.
    pub fn to_vec(&self) -> Vec<Bytes> {
        self.iter().collect()
    }

    /// All records back to back: the run itself when there is one,
    /// otherwise one copy.
    pub fn into_bytes(self) -> Bytes {
        if self.runs.len() <= 1 {
            return self.runs.into_iter().next().unwrap_or_default();
        }
        let mut out = bytes::BytesMut::with_capacity(self.bytes());
        for r in &self.runs {
            out.extend_from_slice(r);
        }
        out.freeze()
    }
}

/// The records of [`Records`], one by one.
#[derive(Debug)]
pub struct RecordIter<'a> {
    runs: std::slice::Iter<'a, Bytes>,
    sizes: std::slice::Iter<'a, u32>,
    run: Option<&'a Bytes>,
    at: usize,
}

impl Iterator for RecordIter<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(run) = self.run.filter(|r| self.at < r.len()) {
                let n = *self.sizes.next()? as usize;
                let end = (self.at + n).min(run.len());
                let rec = run.slice(self.at..end);
                self.at = end;
                return Some(rec);
            }
            self.run = Some(self.runs.next()?);
            self.at = 0;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.sizes.len(), Some(self.sizes.len()))
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = Bytes;
    type IntoIter = RecordIter<'a>;

    fn into_iter(self) -> RecordIter<'a> {
        self.iter()
    }
}

impl FromIterator<Bytes> for Records {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        let mut r = Self::default();
        for b in iter {
            r.push(b);
        }
        r
    }
}

/// Records read from a queue.
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// What happened.
    pub status: ReadStatus,
    /// Whole stored records (verified), in queue order.
    pub records: Records,
    /// Where the next read should start: after the last returned record
    /// (`Found`), the asked offset (`NoNewMessage`), min (`OffsetTooSmall`),
    /// max (`OffsetOverflow`), 0 (`NoQueue`).
    pub next_offset: QueueOffset,
    /// The queue's min offset.
    pub min_offset: QueueOffset,
    /// The queue's max offset (one past the last visible entry).
    pub max_offset: QueueOffset,
}

/// Told about newly visible messages; wakes long-polling pulls.
pub trait ArrivalListener: Send + Sync + 'static {
    /// Called by the dispatcher after new entries became visible; `max_offset`
    /// is the new one-past-last offset. Must not block.
    fn on_arrival(&self, topic: &TopicName, queue_id: QueueId, max_offset: QueueOffset);
}

/// A listener that ignores arrivals (tests, tools).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopListener;

impl ArrivalListener for NoopListener {
    fn on_arrival(&self, _: &TopicName, _: QueueId, _: QueueOffset) {}
}

/// Counters and positions, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Successful `append` calls written to the log (batches).
    pub appends: u64,
    /// Records written.
    pub messages: u64,
    /// Commit-log fdatasync calls (group commit makes this far smaller than
    /// `appends` under load).
    pub fsyncs: u64,
    /// Write groups: one pwrite per segment touched per group.
    pub write_groups: u64,
    /// End of the written log.
    pub written_offset: u64,
    /// End of the durable log.
    pub flushed_offset: u64,
    /// End of the log as far as consume queues are built.
    pub dispatched_offset: u64,
    /// The store refuses writes after a failed write or fsync.
    pub poisoned: bool,
    /// Commit-log reads (`pread`) done by `read`: one per run of records
    /// adjacent in the log, not one per record.
    pub read_calls: u64,
    /// Where the last open's recovery scan of the commit log started.
    pub recovery_scan_from: u64,
    /// Commit-log bytes that recovery read (both passes).
    pub recovery_scanned_bytes: u64,
    /// Lowest commit-log offset recovery read; `u64::MAX` if it read none.
    pub recovery_lowest_read: u64,
    /// Commit-log segments deleted by retention since open (those kept
    /// for reuse included).
    pub segments_deleted: u64,
    /// Deleted segments waiting in `commitlog-spare/` to be reused
    /// (`StoreConfig::recycle_segments`).
    pub spare_segments: usize,
    /// Appends are refused because the disk is above `disk_reject_ratio`.
    pub disk_full: bool,
    /// The commit log is written and read with O_DIRECT through the
    /// store's block cache (`StoreConfig::direct_io`, and the file system
    /// allows it).
    pub direct_io: bool,
    /// Log blocks that reads found in the block cache.
    pub cache_hits: u64,
    /// Log blocks that reads had to load from disk.
    pub cache_misses: u64,
    /// Log blocks loaded ahead of readers after a miss.
    pub cache_read_ahead: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_slice_their_runs_and_join_without_a_copy_when_one() {
        let run = Bytes::from_static(b"aaabbbbbc");
        let mut one = Records::with_capacity(3);
        one.push_run(run.clone(), [3, 5, 1]);
        assert_eq!(one.len(), 3);
        assert_eq!(one.iter().size_hint(), (3, Some(3)));
        assert_eq!(one.to_vec(), [&b"aaa"[..], b"bbbbb", b"c"]);
        let joined = one.into_bytes();
        assert_eq!(joined, run);
        assert_eq!(joined.as_ptr(), run.as_ptr(), "one run is not copied");

        let mut two: Records = [Bytes::from_static(b"xy")].into_iter().collect();
        two.push_run(Bytes::from_static(b"zzw"), [2, 1]);
        two.push_run(Bytes::new(), []);
        assert_eq!(two.len(), 3);
        assert_eq!(two.bytes(), 5);
        assert_eq!(two.to_vec(), [&b"xy"[..], b"zz", b"w"]);
        assert_eq!(two.into_bytes(), Bytes::from_static(b"xyzzw"));

        let none = Records::default();
        assert!(none.is_empty());
        assert_eq!(none.iter().count(), 0);
        assert!(none.into_bytes().is_empty());
    }
}
