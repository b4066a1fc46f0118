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
use super::error::StoreError;
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
        let stopping = || shared.halted() || shared.flusher.stop_requested();
        shared.flusher.wake.wait_until(wait, || {
            stopping()
                || (sync
                    && shared.written.load(Ordering::Acquire)
                        > shared.flushed.load(Ordering::Acquire))
        });
        if shared.halted() {
            break;
        }
        if flush_log(&shared).is_err() {
            // Poisoned: nothing will be flushed again until restart.
            break;
        }
        if sync && super::dispatch::dispatch_visible(&shared).is_none() {
            // Poisoned, or an injected crash: the dispatcher thread stops
            // the same way; flushing goes on so appends learn their fate.
            tracing::debug!("flusher no longer dispatches");
        }
        // `stop` is only set once the writer has exited, so `written` is final.
        if shared.flusher.stop_requested()
            && shared.flushed.load(Ordering::Acquire) >= shared.written.load(Ordering::Acquire)
        {
            break;
        }
    }
    tracing::debug!("flusher stopped");
}

/// fdatasyncs the log up to what is written now and publishes it. Used by
/// the flusher, and by checkpoints in async mode (which must not record a
/// consume-queue position beyond the durable log).
pub(crate) fn flush_log(shared: &Shared) -> Result<(), StoreError> {
    if let Some(m) = shared.poison_message() {
        return Err(StoreError::Poisoned(m));
    }
    let target = shared.written.load(Ordering::Acquire);
    let from = shared.flushed.load(Ordering::Acquire);
    if target <= from {
        return Ok(());
    }
    match sync_log(shared, from, target) {
        Ok(n) => {
            shared.stats.fsyncs.fetch_add(n, Ordering::Relaxed);
            let now = shared
                .flushed
                .fetch_max(target, Ordering::AcqRel)
                .max(target);
            // Recorded without waking anyone: appends wait for their
            // dispatch, which in sync mode follows the fdatasync (and
            // notifies), and in async mode does not wait for it at all.
            shared.flush_state.send_if_modified(|s| {
                s.flushed = s.flushed.max(now);
                false
            });
            Ok(())
        }
        Err(e) => {
            let msg = format!("commit-log fdatasync failed: {e}");
            shared.poison(msg.clone());
            Err(StoreError::Poisoned(msg))
        }
    }
}

fn sync_log(shared: &Shared, from: u64, to: u64) -> std::io::Result<u64> {
    #[cfg(any(test, feature = "fault-injection"))]
    {
        let faults = &shared.faults;
        let delay = *faults.fsync_delay.lock();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if faults.fail_next_fsync.swap(false, Ordering::AcqRel) {
            return Err(std::io::Error::other("injected fdatasync failure"));
        }
    }
    shared.log.sync_range(from, to)
}
