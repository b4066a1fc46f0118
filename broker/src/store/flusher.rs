//! The flusher thread.
//!
//! Async mode: fdatasync up to the written position every
//! `async_flush_interval`.
//!
//! Sync mode's group commit is done by the writer itself (`writer::commit`:
//! fdatasync up to what it wrote, then dispatch, then the next group, so
//! appends arriving during an fdatasync share the next one). Here the
//! flusher only looks every `IDLE_WAIT` and at shutdown for a written
//! position ahead of the flushed one, which the writer normally never
//! leaves behind.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::config::FlushMode;
use super::shared::Shared;

/// Period of the sync-mode check.
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
        if sync {
            // Only at shutdown or when a write raced this timed wake-up:
            // normally the writer has flushed and dispatched already.
            shared.wake_dispatcher.notify();
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
