//! Store errors. Appends and everything else fail differently for the caller
//! (an append can be "written but not durable"), so they get separate enums.

use std::io;
use std::path::Path;

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
