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

/// Records read from a queue.
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// What happened.
    pub status: ReadStatus,
    /// Whole stored records (verified), in queue order.
    pub records: Vec<Bytes>,
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
