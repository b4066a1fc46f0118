//! Places where a test can make the store stop as if the process died,
//! to check what recovery makes of the files at exactly that moment.

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
}
