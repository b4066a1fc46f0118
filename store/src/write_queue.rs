//! The bounded hand-off from `append` callers to the writer thread.
//!
//! Bounded by bytes, not requests: a caller first takes permits for its
//! batch's size from `budget`, and the permits travel with the batch until
//! the dispatcher has made it visible. So queued, written-but-not-yet-durable
//! and not-yet-dispatched data together stay under `BUDGET_BYTES`. When the
//! budget is exhausted an append waits up to `ADMIT_TIMEOUT`, then gets
//! `AppendError::Busy` (RocketMQ's "system busy"; clients retry).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::{QueueId, TopicName};
use parking_lot::{Condvar, Mutex};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::error::AppendError;
use super::replica::validate::Plan;
use super::types::AppendResult;
use super::validate::RecordMeta;

/// Bytes admitted but not yet dispatched.
const BUDGET_BYTES: usize = 64 << 20;
/// Charged per request on top of its bytes, so tiny requests are bounded too.
const REQUEST_OVERHEAD: usize = 256;
/// How long an append waits for budget before answering Busy.
pub(crate) const ADMIT_TIMEOUT: Duration = Duration::from_secs(1);

/// Result of a successful write: where it went and where it ends (the
/// commit-log offset an fdatasync must reach to make it durable).
pub(crate) struct Written {
    pub(crate) result: AppendResult,
    pub(crate) end: u64,
}

pub(crate) struct WriteReq {
    pub(crate) topic: TopicName,
    pub(crate) queue_id: QueueId,
    pub(crate) records: BytesMut,
    pub(crate) metas: Vec<RecordMeta>,
    /// Index key hashes of the records, in order (see `RecordMeta::keys`).
    pub(crate) key_hashes: Vec<u32>,
    pub(crate) permit: OwnedSemaphorePermit,
    /// Taken by the writer when it places the batch, or by the caller
    /// when it gives up waiting; whichever takes it first decides whether
    /// the batch is written.
    pub(crate) claim: Claim,
    /// Answered once the batch has its place in the log (before its
    /// device write), or with the reason it has none. `None` once sent.
    pub(crate) reply: Option<oneshot::Sender<Result<Written, AppendError>>>,
}

impl WriteReq {
    /// Answers the caller, if it has not been answered yet.
    pub(crate) fn answer(&mut self, r: Result<Written, AppendError>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(r);
        }
    }
}

/// A slave's chunk of its master's log, checked (`replica::validate`),
/// for the writer to put at `offset` if that is still the log's end.
pub(crate) struct ReplicaReq {
    pub(crate) offset: u64,
    pub(crate) bytes: Bytes,
    pub(crate) plan: Plan,
    pub(crate) permit: OwnedSemaphorePermit,
    /// As for [`WriteReq`].
    pub(crate) claim: Claim,
    /// As for [`WriteReq`]; the result's queue offset is 0.
    pub(crate) reply: Option<oneshot::Sender<Result<Written, AppendError>>>,
}

impl ReplicaReq {
    /// Answers the caller, if it has not been answered yet.
    pub(crate) fn answer(&mut self, r: Result<Written, AppendError>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(r);
        }
    }
}

/// What the writer takes from the queue at once.
pub(crate) enum Work {
    /// Producers' appends, in order, as one write group.
    Appends(Vec<WriteReq>),
    /// One chunk of a master's log (a slave's store).
    Replica(ReplicaReq),
}

/// Who decides a queued batch's fate: the writer (it is written) or the
/// caller that stopped waiting (it never will be). Shared by both.
#[derive(Clone, Default)]
pub(crate) struct Claim(Arc<AtomicBool>);

impl Claim {
    /// True for the first taker only.
    pub(crate) fn take(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

#[derive(Default)]
struct State {
    reqs: VecDeque<WriteReq>,
    /// A slave's chunks. Apart from `reqs` so the append path is the same
    /// as ever; a store takes one kind or the other (`StoreRole`), so
    /// their relative order never matters.
    replicas: VecDeque<ReplicaReq>,
    /// No more pushes; the writer drains what is queued and exits.
    closed: bool,
    /// Stop now; what is queued is dropped (callers see ShuttingDown).
    halted: bool,
}

pub(crate) struct WriteQueue {
    state: Mutex<State>,
    /// Wakes the writer when a request arrives or the queue closes.
    cond: Condvar,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

impl WriteQueue {
    pub(crate) fn new() -> Self {
        Self::with_budget(BUDGET_BYTES)
    }

    fn with_budget(bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            budget: Arc::new(Semaphore::new(bytes)),
            budget_bytes: bytes,
        }
    }

    /// Takes budget for a batch of `len` bytes.
    pub(crate) async fn admit(&self, len: usize) -> Result<OwnedSemaphorePermit, AppendError> {
        // A single batch larger than the whole budget still gets through,
        // alone; clamping keeps it from waiting forever.
        let n = len
            .saturating_add(REQUEST_OVERHEAD)
            .min(self.budget_bytes)
            .min(u32::MAX as usize) as u32;
        match tokio::time::timeout(ADMIT_TIMEOUT, self.budget.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(AppendError::ShuttingDown),
            Err(_elapsed) => Err(AppendError::Busy),
        }
    }

    /// Queues a request; gives it back if the queue is closed.
    pub(crate) fn push(&self, req: WriteReq) -> Result<(), Box<WriteReq>> {
        let mut s = self.state.lock();
        if s.closed || s.halted {
            return Err(Box::new(req));
        }
        s.reqs.push_back(req);
        drop(s);
        self.cond.notify_one();
        Ok(())
    }

    /// Queues a slave's chunk; gives it back if the queue is closed.
    pub(crate) fn push_replica(&self, req: ReplicaReq) -> Result<(), Box<ReplicaReq>> {
        let mut s = self.state.lock();
        if s.closed || s.halted {
            return Err(Box::new(req));
        }
        s.replicas.push_back(req);
        drop(s);
        self.cond.notify_one();
        Ok(())
    }

    /// Blocks until requests are queued, then takes appends in order up to
    /// about `max_bytes` (at least one), or else one replica chunk. `None`
    /// once closed and drained, or halted.
    pub(crate) fn take(&self, max_bytes: usize) -> Option<Work> {
        let mut s = self.state.lock();
        loop {
            if s.halted {
                s.reqs.clear();
                s.replicas.clear();
                return None;
            }
            if !s.reqs.is_empty() {
                break;
            }
            if let Some(r) = s.replicas.pop_front() {
                return Some(Work::Replica(r));
            }
            if s.closed {
                return None;
            }
            self.cond.wait(&mut s);
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(front) = s.reqs.front() {
            let len = front.records.len();
            if !out.is_empty() && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            if let Some(req) = s.reqs.pop_front() {
                out.push(req);
            }
        }
        Some(Work::Appends(out))
    }

    pub(crate) fn is_closed(&self) -> bool {
        let s = self.state.lock();
        s.closed || s.halted
    }

    /// Refuses new requests; queued ones are still written.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.budget.close();
        self.cond.notify_all();
    }

    /// Refuses new requests and drops queued ones (crash / drop).
    pub(crate) fn halt(&self) {
        let dropped = {
            let mut s = self.state.lock();
            s.halted = true;
            (std::mem::take(&mut s.reqs), std::mem::take(&mut s.replicas))
        };
        self.budget.close();
        self.cond.notify_all();
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_budget_answers_busy_then_recovers() {
        let q = WriteQueue::with_budget(1000);
        let held = q.admit(600).await.unwrap();
        assert!(matches!(q.admit(600).await, Err(AppendError::Busy)));
        drop(held);
        let again = q.admit(600).await.unwrap();
        // Larger than the whole budget: clamped, admitted alone.
        drop(again);
        let big = q.admit(1 << 20).await.unwrap();
        drop(big);
        q.close();
        assert!(matches!(q.admit(1).await, Err(AppendError::ShuttingDown)));
        assert!(q.is_closed());
    }
}
