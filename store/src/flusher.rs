//! The flusher thread.
//!
//! Sync mode is group commit: whenever the written position W is ahead of
//! the flushed one, fdatasync the segments up to W, publish flushed = W,
//! then build the consume-queue and index entries up to W right here (no
//! hand-off to the dispatcher thread), and every append ending at or before
//! W completes. The writer goes on writing during the fdatasync, so appends
//! that arrive meanwhile are written, and covered by the next one; a stalled
//! fdatasync shows as `FlushTimeout` after `sync_flush_timeout`, not as a
//! writer that stops answering. (With direct I/O the writer waits for its
//! own device writes, so a device that stalls those stops it too; appends
//! are then answered by their own timeout, see `MessageStore::append` and
//! docs/STORE.md.)
//!
//! Async mode: the same fdatasync every `async_flush_interval`; the writer
//! builds the entries right after each write.

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
        if sync && super::dispatch::dispatch_visible(&shared).is_none() {
            // Poisoned, or an injected crash: the dispatcher thread stops
            // the same way; flushing goes on so appends learn their fate.
            tracing::debug!("flusher no longer dispatches");
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
