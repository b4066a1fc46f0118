//! Periodic checkpoints: fsync the consume queues and the index and record
//! how far they and the log are durable, so recovery after a crash only
//! scans the tail.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::{self, Checkpoint, QueueMark};
use super::config::FlushMode;
use super::error::StoreError;
use super::flusher;
use super::index::{IndexPos, IndexState};
use super::shared::Shared;

/// How often a changed store is checkpointed. This bounds how much of the
/// log recovery must scan after a crash (about one interval of writes).
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) fn run(shared: Arc<Shared>) {
    loop {
        let stop = shared
            .checkpointer
            .wake
            .wait_until(CHECKPOINT_INTERVAL, || {
                shared.halted() || shared.checkpointer.stop_requested()
            });
        if stop || shared.is_poisoned() {
            break;
        }
        match checkpoint(&shared, Mode::IfChanged) {
            Ok(()) => {}
            // Halted meanwhile: exit as a killed process would.
            Err(StoreError::ShuttingDown) => break,
            Err(e) => {
                // Consume-queue fsync or checkpoint write failed: same rule
                // as the log, stop pretending.
                shared.poison(format!("checkpoint failed: {e}"));
                break;
            }
        }
    }
    tracing::debug!("checkpointer stopped");
}

/// When a checkpoint is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only if something was dispatched since the last one.
    IfChanged,
    /// Always (after deleting a topic or segments).
    Force,
    /// Always, at a clean shutdown: also writes the index's in-memory slots
    /// so the next open need not rebuild them.
    Final,
}

/// Writes a checkpoint according to `mode`.
pub(crate) fn checkpoint(shared: &Shared, mode: Mode) -> Result<(), StoreError> {
    let mut last = shared.checkpoint_lock.lock();
    checkpoint_locked(shared, &mut last, mode)
}

/// As [`checkpoint()`], for a caller already holding `checkpoint_lock`.
pub(crate) fn checkpoint_locked(
    shared: &Shared,
    last: &mut u64,
    mode: Mode,
) -> Result<(), StoreError> {
    if let Some(m) = shared.poison_message() {
        return Err(StoreError::Poisoned(m));
    }
    // A halted store stands for a killed process: nothing more reaches
    // the disk (a checkpoint written now could claim more than a cut in
    // progress leaves).
    if shared.halted() {
        return Err(StoreError::ShuttingDown);
    }
    let (d, queues, index) = {
        let _round = shared.dispatch.round.lock();
        let d = shared.dispatched.load(Ordering::Acquire);
        if mode == Mode::IfChanged && d == *last {
            return Ok(());
        }
        let queues: Vec<_> = shared
            .cqs
            .all()
            .into_iter()
            .map(|cq| {
                let (n, min) = (cq.max(), cq.min());
                (cq, n, min)
            })
            .collect();
        (d, queues, shared.index.snapshot())
    };
    if shared.config.flush == FlushMode::Async {
        // Entries may point at records not yet fsynced; make the log durable
        // at least up to `d` first.
        flusher::flush_log(shared)?;
    }
    for (cq, n, _) in &queues {
        cq.sync(*n)?;
    }
    shared.index.persist(index.as_ref(), mode == Mode::Final)?;
    let cp = Checkpoint {
        flushed: shared.flushed.load(Ordering::Acquire),
        cq_consistent: d,
        index: index.map_or(IndexState::Empty, |(f, next)| {
            IndexState::At(IndexPos { base: f.base, next })
        }),
        queues: queues
            .iter()
            .map(|(cq, n, min)| QueueMark {
                topic: cq.topic().clone(),
                queue_id: cq.queue_id(),
                count: *n,
                min: *min,
            })
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
