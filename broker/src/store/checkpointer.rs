//! Periodic checkpoints: fsync the consume queues and record how far they
//! and the log are durable, so recovery after a crash only scans the tail.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::{self, Checkpoint};
use super::config::FlushMode;
use super::error::StoreError;
use super::shared::Shared;

/// How often a changed store is checkpointed. This bounds how much of the
/// log recovery must scan after a crash (about one interval of writes).
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) fn run(shared: Arc<Shared>) {
    loop {
        let stop = shared
            .wake_checkpointer
            .wait_until(CHECKPOINT_INTERVAL, || {
                shared.halted() || shared.stop.checkpointer.load(Ordering::Acquire)
            });
        if stop || shared.is_poisoned() {
            break;
        }
        if let Err(e) = checkpoint(&shared, false) {
            // Consume-queue fsync or checkpoint write failed: same rule as
            // the log, stop pretending.
            shared.poison(format!("checkpoint failed: {e}"));
            break;
        }
    }
    tracing::debug!("checkpointer stopped");
}

/// Writes a checkpoint if anything was dispatched since the last one (or
/// always, with `force`).
pub(crate) fn checkpoint(shared: &Shared, force: bool) -> Result<(), StoreError> {
    let mut last = shared.checkpoint_lock.lock();
    checkpoint_locked(shared, &mut last, force)
}

/// As [`checkpoint`], for a caller already holding `checkpoint_lock`.
pub(crate) fn checkpoint_locked(
    shared: &Shared,
    last: &mut u64,
    force: bool,
) -> Result<(), StoreError> {
    if let Some(m) = shared.poison_message() {
        return Err(StoreError::Poisoned(m));
    }
    let (d, queues) = {
        let _round = shared.dispatch_lock.lock();
        let d = shared.dispatched.load(Ordering::Acquire);
        if !force && d == *last {
            return Ok(());
        }
        let queues: Vec<_> = shared
            .cqs
            .all()
            .into_iter()
            .map(|cq| {
                let n = cq.max();
                (cq, n)
            })
            .collect();
        (d, queues)
    };
    if shared.config.flush == FlushMode::Async {
        // Entries may point at records not yet fsynced; make the log durable
        // at least up to `d` first.
        shared.flush_log()?;
    }
    for (cq, n) in &queues {
        cq.sync(*n)?;
    }
    let cp = Checkpoint {
        flushed: shared.flushed.load(Ordering::Acquire),
        cq_consistent: d,
        queues: queues
            .iter()
            .map(|(cq, n)| (cq.topic().clone(), cq.queue_id(), *n))
            .collect(),
    };
    checkpoint::write(&shared.config.dir, &cp)?;
    *last = d;
    tracing::trace!(
        cq_consistent = d,
        flushed = cp.flushed,
        "checkpoint written"
    );
    Ok(())
}
