//! The writer's side of a slave: puts a checked chunk of the master's log
//! at the end of this one, verbatim, if that is still where it was meant
//! to go; then hands its records to the dispatcher like any written
//! batch, with the queue offsets the master stamped.
//!
//! The writer keeps its table of next queue offsets (`Shared::offsets`)
//! as on a master, from the records it takes, so a promoted slave goes
//! on numbering every queue where the old master stopped. A run of
//! records whose queue offset does not follow its queue is written but
//! not dispatched, as recovery treats one (a topic the master deleted and
//! created again): except on an empty queue, which starts at the run
//! (the slave began mid-log, at its master's oldest segment).

use std::sync::atomic::Ordering;

use ferromq_protocol::{CommitLogOffset, QueueOffset};

use super::StoreRole;
use crate::dispatch::DispatchBatch;
use crate::error::AppendError;
use crate::shared::{OffsetTable, Shared};
use crate::types::AppendResult;
use crate::write_queue::{ReplicaReq, Written};
use crate::writer::{publish_batches, write_out};

pub(crate) fn write(shared: &Shared, mut req: ReplicaReq, buf: &mut Vec<u8>) {
    let mut offsets = shared.offsets.lock();
    let role = shared.role.get();
    if role != StoreRole::Slave {
        return req.answer(Err(AppendError::WrongRole(role)));
    }
    if let Some(m) = shared.poison_message() {
        return req.answer(Err(AppendError::Poisoned(m)));
    }
    let pos = shared.written.load(Ordering::Acquire);
    if req.offset != pos {
        return req.answer(Err(AppendError::OffsetMismatch {
            expected: CommitLogOffset::new(pos),
            got: CommitLogOffset::new(req.offset),
        }));
    }
    if !req.claim.take() {
        // Its caller stopped waiting and was told nothing was written.
        return;
    }
    let end = req.plan.end;
    req.answer(Ok(Written {
        result: AppendResult {
            queue_offset: QueueOffset::new(0),
            commit_log_offset: CommitLogOffset::new(pos),
            count: req.plan.records,
        },
        end,
    }));
    let mut rolled = false;
    for piece in &req.plan.pieces {
        let written = write_out(shared, piece.at, &[&req.bytes[piece.bytes.clone()]], buf)
            .and_then(|()| {
                if !piece.ends_segment {
                    return Ok(());
                }
                rolled = true;
                let next = shared.log.segment_base(piece.at) + shared.log.segment_size();
                shared.log.ensure_segment(next).map(|_| ())
            });
        if let Err(e) = written {
            // As on a master: part of it may be on disk, none of it is
            // acknowledged, and the log must not grow past a hole.
            shared.poison(format!("commit-log write failed: {e}"));
            return;
        }
    }
    let ReplicaReq { plan, permit, .. } = req;
    let mut batches: Vec<DispatchBatch> = plan
        .runs
        .into_iter()
        .filter_map(|mut run| {
            run.restart = place(shared, &mut offsets, &run)?;
            Some(run)
        })
        .collect();
    // The chunk's budget goes back once its last batch is visible.
    if let Some(last) = batches.last_mut() {
        last._permit = Some(permit);
    }
    publish_batches(shared, end, batches.into_iter(), 1);
    drop(offsets);
    if shared.config.flush == crate::config::FlushMode::Async {
        let _ = crate::dispatch::dispatch_visible(shared);
    }
    if rolled {
        shared.allocator.wake.notify();
    }
}

/// Whether `run` is dispatched, and whether it starts its queue afresh
/// (`Some(true)`); moves the queue's next offset past it.
fn place(shared: &Shared, offsets: &mut OffsetTable, run: &DispatchBatch) -> Option<bool> {
    let q = run.first_queue_offset;
    let n = run.metas.len() as u64;
    let queues = offsets.entry(run.topic.clone()).or_default();
    let next = queues.get(&run.queue_id).copied().unwrap_or(0);
    if q == next {
        queues.insert(run.queue_id, q + n);
        return Some(false);
    }
    // Empty: nothing written for it is still being dispatched, and what
    // was dispatched is below the queue's min.
    let min = shared
        .cqs
        .get(run.topic.as_str(), run.queue_id)
        .map_or(0, |cq| cq.min());
    if q > next && next == min {
        queues.insert(run.queue_id, q + n);
        return Some(true);
    }
    tracing::warn!(topic = %run.topic, queue_id = %run.queue_id, queue_offset = q, next, offset = run.first_offset,
        "replicated records do not follow their consume queue (a deleted topic?); not indexed");
    None
}
