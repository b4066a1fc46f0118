//! Test hooks: places where a test can make the store stop as if the
//! process died, to check what recovery makes of the files at exactly that
//! moment, and faults it can inject into a running store.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use parking_lot::Mutex;

/// A point at which the store halts like a crash (see
/// `MessageStore::set_crash_point`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// The writer has written the end-of-segment marker and the next
    /// segment exists, but no record of the new segment is written.
    AfterSegmentRoll,
    /// Records are written and fdatasynced (appends are acknowledged), but
    /// the dispatcher writes no consume-queue or index entry for them.
    AfterFlushBeforeDispatch,
    /// A truncation has written the checkpoint as of the cut, and cut
    /// nothing yet (`truncate_to` then answers `ShuttingDown`).
    TruncateBeforeCut,
    /// A truncation has zeroed the log from the cut (its commit point),
    /// and removed nothing else yet: later segments, consume-queue and
    /// index entries, epochs are all still there.
    TruncateAfterCut,
    /// A reset has recorded its intent and changed nothing else yet.
    ResetAfterIntent,
}

/// Faults a test sets through `MessageStore` while the store runs; each is
/// read by the thread it affects.
#[derive(Default)]
pub(crate) struct Faults {
    /// The next commit-log fdatasync fails (whoever flushes).
    pub(crate) fail_next_fsync: AtomicBool,
    /// Added before every commit-log fdatasync (slow-disk simulation).
    pub(crate) fsync_delay: Mutex<Duration>,
    /// Added before every commit-log write (a device that stalls writes).
    pub(crate) write_delay: Mutex<Duration>,
    /// Added to the wall clock when retention judges a segment's age.
    pub(crate) clock_skew: Mutex<Duration>,
    /// Where the writer or dispatch stops as if the process died.
    pub(crate) crash_point: Mutex<Option<CrashPoint>>,
}

impl Faults {
    /// Whether the test asks for a crash at `p` (the caller then stops
    /// like a dead process).
    pub(crate) fn crash_here(&self, p: CrashPoint) -> bool {
        if *self.crash_point.lock() != Some(p) {
            return false;
        }
        tracing::warn!(point = ?p, "injected crash");
        true
    }
}
