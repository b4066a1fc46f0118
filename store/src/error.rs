//! Store errors. Appends and everything else fail differently for the caller
//! (an append can be "written but not durable"), so they get separate enums.

use std::io;
use std::path::{Path, PathBuf};

use ferromq_protocol::{CommitLogOffset, NameError};

use super::epoch::EpochError;
use super::replica::StoreRole;
use super::types::AppendResult;

/// Opening, reading or shutting down the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed; the message names the file.
    #[error("store i/o error: {0}")]
    Io(#[from] io::Error),
    /// Data on disk does not verify (checksum, layout, cross-references).
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// The checkpoint or an index file does not decode, or does not fit
    /// the configuration. Recovery gets past these on its own: it scans
    /// the whole log instead of trusting the checkpoint, and rebuilds the
    /// index from the log.
    #[error("store file {} is unusable: {reason}", path.display())]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: Damage,
    },
    /// A write or fsync failed earlier; the store refuses writes until it is
    /// restarted (and recovered).
    #[error("store is poisoned after a failed write or fsync: {0}")]
    Poisoned(String),
    /// The configuration cannot work.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// The store is shutting down or was stopped.
    #[error("store is shut down")]
    ShuttingDown,
    /// An operation waited longer than it may.
    #[error("store operation timed out: {0}")]
    Timeout(&'static str),
    /// The operating system refused to start one of the store's threads.
    #[error("cannot start store thread {name}: {source}")]
    SpawnThread {
        /// The thread's name.
        name: &'static str,
        /// Why not.
        source: io::Error,
    },
    /// A commit-log offset outside the log: below its start (retention
    /// deleted it) or beyond its end. Nothing was read or changed.
    #[error("commit-log offset {offset} is outside the log [{min}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The log's first offset.
        min: u64,
        /// The log's end.
        end: u64,
    },
    /// A commit-log offset that is not where a record (or an
    /// end-of-segment marker) starts. Nothing was read or changed.
    #[error("commit-log offset {0} is not a record boundary")]
    NotRecordBoundary(u64),
    /// The operation is not for a store in this role (truncation is for
    /// slaves). Nothing changed.
    #[error("{op} is not allowed while the store is a {role}")]
    WrongRole {
        /// What was refused.
        op: &'static str,
        /// The store's role.
        role: StoreRole,
    },
    /// `begin_epoch` refused the epoch; nothing changed.
    #[error("epoch refused: {0}")]
    Epoch(#[from] EpochError),
    /// The blocking task that runs the shutdown panicked or was cancelled
    /// (see `MessageStore::shutdown`).
    #[error("store shutdown task failed: {0}")]
    ShutdownTask(#[source] tokio::task::JoinError),
}

/// What makes a checkpoint or index file unusable
/// ([`StoreError::CorruptFile`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Damage {
    /// The file ends before its content does.
    #[error("truncated")]
    Truncated,
    /// The stored checksum does not match the content.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// Not a file of this kind.
    #[error("bad magic {0:#010x}")]
    BadMagic(u32),
    /// A format version this build does not read.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u32),
    /// Bytes after the content.
    #[error("trailing bytes")]
    TrailingBytes,
    /// Larger than any valid file of its kind; not read.
    #[error("{len} bytes, larger than any valid file of its kind")]
    TooLarge {
        /// The file's length.
        len: u64,
    },
    /// The checkpoint's index state is none of the known ones.
    #[error("unknown index state {0}")]
    UnknownIndexState(u8),
    /// A topic name in the checkpoint is not UTF-8.
    #[error("topic is not UTF-8")]
    TopicNotUtf8,
    /// A topic name in the checkpoint is not a valid one.
    #[error("invalid topic: {0}")]
    InvalidTopic(#[from] NameError),
    /// An index file was made for other `index_hash_slots` /
    /// `index_max_entries` than are configured.
    #[error(
        "geometry {slots}x{entries} ({len} bytes) does not match the configured \
         {want_slots}x{want_entries}"
    )]
    GeometryMismatch {
        /// Hash slots in the file's header.
        slots: u32,
        /// Entries in the file's header.
        entries: u32,
        /// The file's length.
        len: u64,
        /// Configured hash slots.
        want_slots: u32,
        /// Configured entries.
        want_entries: u32,
    },
    /// The checkpoint counts more entries in an index file than it holds.
    #[error("{next} entries recorded, capacity {capacity}")]
    EntryCountOutOfRange {
        /// The checkpoint's next free entry.
        next: u32,
        /// Entries the file holds.
        capacity: u32,
    },
    /// An epoch-file entry does not follow the one before it (epochs and
    /// start offsets both increase).
    #[error("epoch entry {index} does not follow the one before it")]
    OutOfOrder {
        /// Position of the entry in the file, from 0.
        index: usize,
    },
    /// An index entry links to itself or a later one (chains run backwards).
    #[error("entry {entry} links forward to {prev}")]
    ForwardLink {
        /// The entry.
        entry: u32,
        /// The entry it links to.
        prev: u32,
    },
}

/// An append failed. Only [`AppendError::FlushTimeout`] (and possibly `Io` /
/// `Poisoned` raised while writing) leave data in the log; every other
/// variant means nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The caller's records are unacceptable; nothing was written.
    #[error("invalid append: {0}")]
    Invalid(String),
    /// Written but not yet covered by an fdatasync within the timeout; it
    /// becomes durable (and visible) once the flush completes.
    #[error("flush timed out; message written at commit-log offset {} but not yet durable", .0.commit_log_offset)]
    FlushTimeout(AppendResult),
    /// A write or fsync failed earlier (or failed for this append); writes
    /// are refused until restart. This append is not acknowledged.
    #[error("store is poisoned: {0}")]
    Poisoned(String),
    /// The store is shutting down; nothing was written.
    #[error("store is shutting down")]
    ShuttingDown,
    /// `append` on a slave (its log comes from its master) or
    /// `append_replicated` on a master; nothing was written.
    #[error("store is a {0}: this kind of append is not taken")]
    WrongRole(StoreRole),
    /// `append_replicated` at an offset that is not the end of the log:
    /// nothing was written. The slave resumes from `expected`.
    #[error("replicated bytes for offset {got}, but the log ends at {expected}")]
    OffsetMismatch {
        /// The end of the log when the writer reached the bytes.
        expected: CommitLogOffset,
        /// Where the bytes were meant to go.
        got: CommitLogOffset,
    },
    /// The store's file system is fuller than `disk_reject_ratio`; nothing
    /// was written. Reads go on; appends resume once retention (or the
    /// operator) frees space.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The write queue stayed full; nothing was written, retry later.
    #[error("store is busy; write queue full")]
    Busy,
    /// The writer did not reach this batch within `sync_flush_timeout`
    /// (a device write is taking that long); the batch was withdrawn, so
    /// nothing was written. Retry later.
    #[error("the writer did not reach the batch within {0:?} (a device write is stalling); nothing was written")]
    Stalled(std::time::Duration),
    /// An I/O error while writing; the store is poisoned as well.
    #[error("store i/o error: {0}")]
    Io(#[from] io::Error),
}

/// Wraps an I/O error with the operation and file it concerns, so logs and
/// replies say which file failed.
pub(crate) fn io_at<'a>(what: &str, path: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    let what = what.to_string();
    move |e| io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
