//! Orderly consumption. In clustering mode a queue is consumed only while
//! this client holds its lock on the broker (taken before the queue's
//! first pull, renewed every 20 s, expiring on the broker 60 s after the
//! last renewal), so two members never process one queue at once, even
//! while a rebalance moves it. One worker per queue passes its messages to
//! the listener strictly in offset order, one batch at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{LockBatchRequest, QueueRef, UnlockBatchRequest};
use ferromq_protocol::{BrokerName, QueueOffset, StoredMessage};
use tracing::{debug, error, info, warn};

use super::listener::{call_orderly, ConsumeContext, OrderlyListener, OrderlyResult};
use super::process_queue::ProcessQueue;
use super::send_back::send_back;
use super::shared::Shared;
use super::subscription::restore_topic;
use crate::error::Result;
use crate::route::MessageQueue;

/// How often locks are renewed.
pub(super) const LOCK_RENEW_INTERVAL: Duration = Duration::from_secs(20);
/// Retry interval while another member still holds a queue's lock.
const LOCK_RETRY: Duration = Duration::from_millis(500);
/// How often an idle worker looks again (lock expiry, missed wake-ups).
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Takes `pq`'s lock, retrying until granted; false if the queue was
/// dropped first.
pub(super) async fn acquire(shared: &Shared, pq: &ProcessQueue) -> bool {
    loop {
        if pq.is_dropped() {
            return false;
        }
        match lock(
            shared,
            &pq.queue.broker_name,
            std::slice::from_ref(&pq.queue),
        )
        .await
        {
            Ok(locked) if locked.contains(&pq.queue) => {
                debug!(queue = %pq.queue, "queue locked");
                pq.locked();
                return true;
            }
            Ok(_) => debug!(queue = %pq.queue, "queue still locked by another member"),
            Err(e) => debug!(queue = %pq.queue, error = %e, "queue lock failed"),
        }
        tokio::select! {
            _ = pq.dropped.cancelled() => return false,
            _ = tokio::time::sleep(LOCK_RETRY) => {}
        }
    }
}

/// Locks (or renews) `queues`, all on `broker`; returns those granted.
async fn lock(
    shared: &Shared,
    broker: &BrokerName,
    queues: &[MessageQueue],
) -> Result<Vec<MessageQueue>> {
    let Some(first) = queues.first() else {
        return Ok(Vec::new());
    };
    let addr = shared.master_addr(&first.topic, broker).await?;
    let req = LockBatchRequest {
        group: shared.group.clone(),
        client_id: shared.client.client_id().to_string(),
        queues: queues.iter().map(queue_ref).collect(),
    };
    let resp = shared.client.call_header(&addr, &req).await?;
    Ok(resp
        .locked
        .into_iter()
        .map(|r| MessageQueue::new(r.topic, broker.clone(), r.queue_id))
        .collect())
}

fn queue_ref(q: &MessageQueue) -> QueueRef {
    QueueRef {
        topic: q.topic.clone(),
        queue_id: q.queue_id,
    }
}

/// Releases the locks of `queues` (best effort: they expire anyway).
pub(super) async fn unlock(shared: &Shared, queues: &[MessageQueue]) {
    let mut by_broker: BTreeMap<&BrokerName, Vec<&MessageQueue>> = BTreeMap::new();
    for q in queues {
        by_broker.entry(&q.broker_name).or_default().push(q);
    }
    for (broker, qs) in by_broker {
        let result = async {
            let addr = shared.master_addr(&qs[0].topic, broker).await?;
            let req = UnlockBatchRequest {
                group: shared.group.clone(),
                client_id: shared.client.client_id().to_string(),
                queues: qs.iter().map(|q| queue_ref(q)).collect(),
            };
            shared.client.call_header(&addr, &req).await
        }
        .await;
        if let Err(e) = result {
            warn!(%broker, error = %e, "queue unlock failed; the locks expire on their own");
        }
    }
}

/// Renews every owned queue's lock each renew interval. A queue whose lock
/// was lost (expired, taken over) is dropped without committing — its new
/// holder may be further on — and a rebalance is asked for.
pub(super) async fn renew_loop(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tokio::time::sleep(LOCK_RENEW_INTERVAL) => {}
        }
        renew(&shared).await;
    }
}

async fn renew(shared: &Arc<Shared>) {
    let mut by_broker: BTreeMap<BrokerName, Vec<Arc<ProcessQueue>>> = BTreeMap::new();
    for pq in shared.owned() {
        by_broker
            .entry(pq.queue.broker_name.clone())
            .or_default()
            .push(pq);
    }
    for (broker, pqs) in by_broker {
        let queues: Vec<MessageQueue> = pqs.iter().map(|p| p.queue.clone()).collect();
        let locked = match lock(shared, &broker, &queues).await {
            Ok(l) => l,
            Err(e) => {
                // Keep consuming until the locks expire locally.
                warn!(%broker, error = %e, "lock renewal failed");
                continue;
            }
        };
        for pq in pqs {
            if locked.contains(&pq.queue) {
                pq.locked();
            } else if pq.lose_lock() {
                warn!(queue = %pq.queue, "queue lock lost; dropping the queue without committing");
                let mut queues = shared.queues.lock();
                if queues.get(&pq.queue).is_some_and(|p| Arc::ptr_eq(p, &pq)) {
                    queues.remove(&pq.queue);
                }
                pq.dropped.cancel();
                shared.rebalance_now.notify_one();
            }
        }
    }
}

/// Consumes `pq` in offset order while its lock is held.
pub(super) async fn worker(
    shared: Arc<Shared>,
    pq: Arc<ProcessQueue>,
    listener: Arc<dyn OrderlyListener>,
) {
    let batch = shared.settings.consume_batch_size.max(1);
    let max = shared.settings.orderly_max_reconsume();
    // Failed attempts of the batch starting at `head`.
    let mut head: Option<QueueOffset> = None;
    let mut failures: u32 = 0;
    loop {
        let work = pq.work.notified();
        if pq.is_dropped() {
            return;
        }
        let ready = !shared.needs_lock() || pq.is_locked();
        let msgs = if ready { pq.first(batch) } else { Vec::new() };
        if msgs.is_empty() {
            tokio::select! {
                _ = pq.dropped.cancelled() => return,
                _ = work => {}
                _ = tokio::time::sleep(IDLE_CHECK) => {}
            }
            continue;
        }
        let guard = pq.consuming.lock().await;
        if pq.is_dropped() {
            return;
        }
        if head != Some(msgs[0].queue_offset) {
            head = Some(msgs[0].queue_offset);
            failures = 0;
        }
        let permit = tokio::select! {
            _ = pq.dropped.cancelled() => return,
            p = shared.permits.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { return };
        let view: Vec<StoredMessage> = msgs
            .iter()
            .cloned()
            .map(|m| {
                let mut m = restore_topic(m);
                m.reconsume_times = m.reconsume_times.saturating_add(failures);
                m
            })
            .collect();
        let ctx = ConsumeContext {
            queue: pq.queue.clone(),
        };
        let result = call_orderly(&listener, view, ctx).await;
        drop(permit);
        match result {
            OrderlyResult::Success => {
                let offsets: Vec<QueueOffset> = msgs.iter().map(|m| m.queue_offset).collect();
                pq.done(&offsets);
                head = None;
            }
            OrderlyResult::SuspendCurrentQueueAMoment => {
                failures = failures.saturating_add(1);
                if failures > max && dead_letter(&shared, &pq, &msgs).await {
                    head = None;
                } else {
                    drop(guard);
                    tokio::select! {
                        _ = pq.dropped.cancelled() => return,
                        _ = tokio::time::sleep(shared.settings.suspend_time) => {}
                    }
                    continue;
                }
            }
        }
        drop(guard);
    }
}

/// Sends `msgs` to the dead-letter topic (broadcasting: drops them, as
/// nothing can be sent back there). True if all of them are gone.
async fn dead_letter(shared: &Shared, pq: &ProcessQueue, msgs: &[StoredMessage]) -> bool {
    let mut all = true;
    for m in msgs {
        if shared.settings.model == ferromq_protocol::header::MessageModel::Broadcasting {
            error!(queue = %pq.queue, offset = %m.queue_offset, "orderly broadcasting message failed too often; dropped");
            pq.done(&[m.queue_offset]);
            continue;
        }
        match send_back(shared, &pq.queue, m, Some(0)).await {
            Ok(()) => {
                info!(queue = %pq.queue, offset = %m.queue_offset, "message failed too often; sent to the dead-letter topic");
                pq.done(&[m.queue_offset]);
            }
            Err(e) => {
                warn!(queue = %pq.queue, offset = %m.queue_offset, error = %e, "cannot send the message to the dead-letter topic; retrying");
                all = false;
            }
        }
    }
    all
}
