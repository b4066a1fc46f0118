//! The allocator thread: keeps the segment after the active one created
//! ahead of time (a recycled spare, or a new file extended to full size
//! and allocated with `fallocate`, see `fsutil::preallocate`; file and
//! directory fsynced), so a roll is a map lookup for the writer instead of
//! a file creation and three fsyncs while every append waits. With
//! prefill, it first writes the zeroes into a spare
//! (`CommitLog::prepare_spare`), holding no lock, so a writer that gets to
//! the roll first is not held up by them.
//!
//! If the allocator is late (or failed), the writer creates the segment
//! itself; `CommitLog::ensure_segment` makes them agree on who does it.
//! A truncation moves the end back; `CommitLog::ensure_next` then refuses
//! the segment computed for the old end, which would leave a gap.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::shared::Shared;

/// Upper bound on a sleep; the writer wakes the allocator on every roll.
const IDLE_WAIT: Duration = Duration::from_secs(1);

pub(crate) fn run(shared: Arc<Shared>) {
    let stopping = || shared.halted() || shared.allocator.stop_requested();
    loop {
        let next = next_base(&shared);
        let mut failed = false;
        if shared.log.segment(next).is_none() {
            if let Err(e) = shared.log.prepare_spare(next) {
                tracing::warn!(base = next, error = %e, "could not prefill the next commit-log segment; it is made without");
            }
            // `next` is stale if a truncation moved the end back since:
            // then nothing is made, and the loop looks again.
            if let Err(e) = shared.log.ensure_next(next) {
                // Not fatal: the writer retries when it rolls, and poisons
                // the store if it cannot create the segment either.
                tracing::warn!(base = next, error = %e, "could not create the next commit-log segment ahead of time");
                failed = true;
            }
        }
        shared.allocator.wake.wait_until(IDLE_WAIT, || {
            stopping() || (!failed && shared.log.segment(next_base(&shared)).is_none())
        });
        if stopping() {
            break;
        }
    }
    tracing::debug!("allocator stopped");
}

/// Base of the segment after the one being written.
fn next_base(shared: &Shared) -> u64 {
    let written = shared.written.load(Ordering::Acquire);
    shared.log.segment_base(written) + shared.log.segment_size()
}
