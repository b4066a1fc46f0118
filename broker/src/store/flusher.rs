//! The flusher thread.
//!
//! Sync mode is group commit: whenever the written position W is ahead of
//! the flushed one, fdatasync the segments up to W, publish flushed = W, and
//! every append ending at or before W completes. Appends that arrive during
//! an fdatasync are covered by the next one, so under load one fdatasync
//! serves many appends.
//!
//! Async mode: the same fdatasync, every `async_flush_interval`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::config::FlushMode;
use super::shared::Shared;

/// Upper bound on a sync-mode sleep; the writer wakes the flusher on every
/// write long before.
const IDLE_WAIT: Duration = Duration::from_millis(200);

pub(crate) fn run(shared: Arc<Shared>) {
    let sync = shared.config.flush == FlushMode::Sync;
    let wait = if sync {
        IDLE_WAIT
    } else {
        shared.config.async_flush_interval
    };
    loop {
        let stopping = || shared.halted() || shared.stop.flusher.load(Ordering::Acquire);
        shared.wake_flusher.wait_until(wait, || {
            stopping()
                || (sync
                    && shared.written.load(Ordering::Acquire)
                        > shared.flushed.load(Ordering::Acquire))
        });
        if shared.halted() {
            break;
        }
        if shared.flush_log().is_err() {
            // Poisoned: nothing will be flushed again until restart.
            break;
        }
        // `stop` is only set once the writer has exited, so `written` is final.
        if shared.stop.flusher.load(Ordering::Acquire)
            && shared.flushed.load(Ordering::Acquire) >= shared.written.load(Ordering::Acquire)
        {
            break;
        }
    }
    tracing::debug!("flusher stopped");
}
