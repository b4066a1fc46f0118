//! A queue this consumer owns: its window, the token that takes it away,
//! and the bookkeeping its pull loop, its consumers and the offset
//! committer share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::{QueueOffset, StoredMessage};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::subscription::Subscription;
use super::window::{Limits, Window};
use crate::route::MessageQueue;

/// How long a lock counts as held after the broker last granted it. The
/// broker keeps it 60 s; renewals come every 20 s.
pub(super) const LOCK_TTL: Duration = Duration::from_secs(30);

pub(super) struct ProcessQueue {
    pub(super) queue: MessageQueue,
    pub(super) sub: Arc<Subscription>,
    /// Pulled, not yet done. A plain mutex: never held across an await.
    window: Mutex<Window>,
    /// Cancelled when the queue stops being ours (rebalance, reset,
    /// shutdown, or the consumer was dropped): its pull loop and workers
    /// stop.
    pub(super) dropped: CancellationToken,
    /// Where to start instead of the committed offset (an offset reset).
    pub(super) start_at: Option<QueueOffset>,
    /// Wakes the pull loop when messages leave a full window.
    space: Notify,
    /// Wakes the orderly worker: messages arrived or the lock was taken.
    pub(super) work: Notify,
    /// The offset last committed for this queue, so only changes are sent.
    committed: Mutex<Option<QueueOffset>>,
    /// Batches handed to workers and not finished; waited for before the
    /// queue's offset is committed on release.
    in_flight: AtomicUsize,
    idle: Notify,
    /// Orderly consumption: until when the broker lock counts as held.
    locked_until: Mutex<Option<Instant>>,
    /// Orderly consumption: held while the listener runs, so one batch of
    /// the queue runs at a time and a release waits for it.
    pub(super) consuming: tokio::sync::Mutex<()>,
}

impl ProcessQueue {
    pub(super) fn new(
        queue: MessageQueue,
        sub: Arc<Subscription>,
        parent: &CancellationToken,
        start_at: Option<QueueOffset>,
    ) -> Self {
        Self {
            queue,
            sub,
            window: Mutex::default(),
            dropped: parent.child_token(),
            start_at,
            space: Notify::new(),
            work: Notify::new(),
            committed: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            locked_until: Mutex::new(None),
            consuming: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn is_dropped(&self) -> bool {
        self.dropped.is_cancelled()
    }

    /// Sets the start offset; `committed` says it is already the group's
    /// committed offset on the broker.
    pub(super) fn start(&self, at: QueueOffset, committed: bool) {
        self.window.lock().start(at);
        if committed {
            *self.committed.lock() = Some(at);
        }
    }

    pub(super) fn next_offset(&self) -> Option<QueueOffset> {
        self.window.lock().next()
    }

    pub(super) fn add(&self, msgs: &[StoredMessage], next: QueueOffset) {
        self.window.lock().add(msgs, next);
        self.work.notify_one();
    }

    pub(super) fn jump(&self, next: QueueOffset) {
        self.window.lock().jump(next);
    }

    /// Messages are done (processed, or handed back to the broker).
    pub(super) fn done(&self, offsets: &[QueueOffset]) {
        if self.window.lock().remove(offsets) > 0 {
            self.space.notify_one();
        }
    }

    pub(super) fn first(&self, n: usize) -> Vec<StoredMessage> {
        self.window.lock().first(n)
    }

    pub(super) fn is_full(&self, limits: Limits) -> bool {
        self.window.lock().is_full(limits)
    }

    /// Waits until the window has room (or the queue is dropped).
    pub(super) async fn wait_for_space(&self, limits: Limits) {
        loop {
            let space = self.space.notified();
            if !self.is_full(limits) || self.is_dropped() {
                return;
            }
            tokio::select! {
                _ = self.dropped.cancelled() => return,
                _ = space => {}
                // Belt and braces against a missed wake-up.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// The offset to commit if it changed since the last commit.
    pub(super) fn uncommitted(&self) -> Option<QueueOffset> {
        let offset = self.window.lock().commit_offset()?;
        (*self.committed.lock() != Some(offset)).then_some(offset)
    }

    /// The offset to commit, changed or not.
    pub(super) fn commit_offset(&self) -> Option<QueueOffset> {
        self.window.lock().commit_offset()
    }

    pub(super) fn committed(&self, offset: QueueOffset) {
        *self.committed.lock() = Some(offset);
    }

    pub(super) fn begin_batch(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn end_batch(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Waits up to `timeout` for batches in flight to finish; false if some
    /// are still running.
    pub(super) async fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.in_flight.load(Ordering::Acquire) == 0;
            }
        }
    }

    pub(super) fn is_locked(&self) -> bool {
        self.locked_until
            .lock()
            .is_some_and(|until| Instant::now() < until)
    }

    /// The broker granted (or renewed) the lock just now.
    pub(super) fn locked(&self) {
        *self.locked_until.lock() = Some(Instant::now() + LOCK_TTL);
        self.work.notify_one();
    }

    /// Whether the lock was held (by the last renewal) — and forget it.
    pub(super) fn lose_lock(&self) -> bool {
        self.locked_until.lock().take().is_some()
    }
}

impl std::fmt::Debug for ProcessQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessQueue")
            .field("queue", &self.queue)
            .field("dropped", &self.is_dropped())
            .finish_non_exhaustive()
    }
}
