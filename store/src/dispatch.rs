//! Dispatching: turns written batches into consume-queue and index entries
//! once they are visible (durable in sync mode, written in async mode),
//! then tells the arrival listener so held pulls wake up. On the live path
//! the flusher dispatches right after its fdatasync (sync mode) and the
//! writer right after its write (async mode); the dispatcher thread is the
//! backstop that catches up with anything visible and not dispatched.
//!
//! It is fed in memory by the writer (`DispatchState::pending`), so the
//! live path never re-reads or re-parses the log; recovery feeds the same
//! `ConsumeQueue::append` from a log scan instead.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::{QueueId, QueueOffset, TopicName};
use parking_lot::Mutex;
use tokio::sync::OwnedSemaphorePermit;

use super::consume_queue::{ConsumeQueue, CqEntry};
use super::error::StoreError;
use super::index::IndexItem;
use super::shared::Shared;
use super::signal::Signal;
use super::types::ArrivalListener;
use super::validate::RecordMeta;

/// Upper bound on a dispatcher sleep; wake-ups normally come from the
/// flusher or writer long before.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Dispatching's part of the store's shared state: three threads dispatch
/// (see the module docs), one round at a time.
pub(crate) struct DispatchState {
    /// Written batches waiting to become visible, in log order: the writer
    /// pushes, a round takes what is visible.
    pub(crate) pending: Mutex<VecDeque<DispatchBatch>>,
    /// Held for a whole round, from taking the batches to publishing
    /// `dispatched`, so two dispatching threads add to a queue in order;
    /// a checkpoint takes it to see `dispatched` and the queues' sizes from
    /// the same instant.
    pub(crate) round: Mutex<()>,
    /// Notified after each round; `delete_topic` waits on it.
    pub(crate) progress: Signal,
    /// Told about every round's queues (wakes held pulls).
    listener: Arc<dyn ArrivalListener>,
}

impl DispatchState {
    pub(crate) fn new(listener: Arc<dyn ArrivalListener>) -> Self {
        Self {
            pending: Mutex::new(VecDeque::new()),
            round: Mutex::new(()),
            progress: Signal::default(),
            listener,
        }
    }
}

/// One append's records, contiguous in the log.
#[derive(Debug)]
pub(crate) struct DispatchBatch {
    pub(crate) topic: TopicName,
    pub(crate) queue_id: QueueId,
    pub(crate) first_queue_offset: u64,
    pub(crate) first_offset: u64,
    /// Commit-log offset just past the batch.
    pub(crate) end: u64,
    pub(crate) metas: Vec<RecordMeta>,
    /// Index key hashes of the records, in order.
    pub(crate) key_hashes: Vec<u32>,
    pub(crate) store_ts: u64,
    /// A slave's run that starts its queue afresh at `first_queue_offset`
    /// (the queue is empty, and the master's records before it are not in
    /// this log: a slave that started at its master's oldest segment, or
    /// retention emptied the queue). Always false on a master.
    pub(crate) restart: bool,
    /// Write-queue budget, given back once the batch is visible (a slave's
    /// chunk carries it in its last batch).
    pub(crate) _permit: Option<OwnedSemaphorePermit>,
}

impl DispatchBatch {
    fn entries(&self) -> Vec<CqEntry> {
        let mut at = self.first_offset;
        self.metas
            .iter()
            .map(|m| {
                let e = CqEntry {
                    offset: at,
                    size: m.size,
                    tag_hash: m.tag_hash,
                };
                at += u64::from(m.size);
                e
            })
            .collect()
    }

    /// Index entries for the batch's keys, in log order.
    fn index_items(&self, out: &mut Vec<IndexItem>) {
        let mut at = self.first_offset;
        let mut hashes = self.key_hashes.iter();
        for m in &self.metas {
            for &hash in hashes.by_ref().take(m.keys as usize) {
                out.push(IndexItem {
                    hash,
                    phys: at,
                    ts: self.store_ts,
                });
            }
            at += u64::from(m.size);
        }
    }
}

pub(crate) fn run(shared: Arc<Shared>) {
    loop {
        shared.dispatcher.wake.wait_until(IDLE_WAIT, || {
            shared.halted()
                || shared.dispatcher.stop_requested()
                || shared.visible() > shared.dispatched.load(Ordering::Acquire)
        });
        if shared.halted() {
            break;
        }
        match dispatch_visible(&shared) {
            None => break,
            Some(false) if shared.dispatcher.stop_requested() => break,
            Some(_) => {}
        }
    }
    tracing::debug!("dispatcher stopped");
}

/// Dispatches everything visible and not dispatched yet. Called by the
/// dispatcher thread, in sync mode by the flusher right after its
/// fdatasync and in async mode by the writer right after its write.
/// `Some(true)` if there was something to dispatch, `Some(false)` if not,
/// `None` if dispatching has stopped for good (poisoned, or an injected
/// crash).
pub(crate) fn dispatch_visible(shared: &Shared) -> Option<bool> {
    let visible = shared.visible();
    if visible <= shared.dispatched.load(Ordering::Acquire) {
        return Some(false);
    }
    #[cfg(any(test, feature = "fault-injection"))]
    if shared
        .faults
        .crash_here(super::hooks::CrashPoint::AfterFlushBeforeDispatch)
    {
        // Dies here: flushed records never reach the consume queues.
        return None;
    }
    if let Err(e) = dispatch_round(shared, visible) {
        shared.poison(format!("building consume queues failed: {e}"));
        return None;
    }
    Some(true)
}

fn dispatch_round(shared: &Shared, visible: u64) -> Result<(), StoreError> {
    // One round at a time, from taking the batches to publishing
    // `dispatched`: with two callers, entries reach a queue in order.
    let _round = shared.dispatch.round.lock();
    if shared.dispatched.load(Ordering::Acquire) >= visible {
        return Ok(());
    }
    let batches: Vec<DispatchBatch> = {
        let mut pending = shared.dispatch.pending.lock();
        let n = pending.iter().take_while(|b| b.end <= visible).count();
        pending.drain(..n).collect()
    };
    // Entries per queue for the whole round: batches of one queue are
    // consecutive in queue offset, so each queue gets one pwrite per round
    // however many sends it had.
    let mut per_queue: Vec<(Arc<ConsumeQueue>, u64, Vec<CqEntry>, u64)> = Vec::new();
    let mut slot: HashMap<*const ConsumeQueue, usize> = HashMap::new();
    let mut items = Vec::new();
    {
        for b in &batches {
            let cq = shared.cqs.get_or_create(&b.topic, b.queue_id)?;
            match slot.get(&Arc::as_ptr(&cq)) {
                Some(&i) => {
                    let (_, _, entries, ts) = &mut per_queue[i];
                    entries.extend(b.entries());
                    *ts = (*ts).max(b.store_ts);
                }
                None => {
                    if b.restart && cq.min() == cq.max() && cq.max() < b.first_queue_offset {
                        cq.start_at(b.first_queue_offset)?;
                    }
                    slot.insert(Arc::as_ptr(&cq), per_queue.len());
                    per_queue.push((cq, b.first_queue_offset, b.entries(), b.store_ts));
                }
            }
            b.index_items(&mut items);
        }
        for (cq, first, entries, ts) in &per_queue {
            cq.append(*first, entries, *ts)?;
        }
        // One pwrite for the round's index entries, inside the round so a
        // checkpoint sees the index and the queues at the same offset.
        shared.index.add(&items)?;
        shared.dispatched.store(visible, Ordering::Release);
    }
    shared
        .flush_state
        .send_modify(|s| s.dispatched = s.dispatched.max(visible));
    shared.dispatch.progress.notify();
    for (cq, ..) in &per_queue {
        shared
            .dispatch
            .listener
            .on_arrival(cq.topic(), cq.queue_id(), QueueOffset::new(cq.max()));
    }
    Ok(())
}
