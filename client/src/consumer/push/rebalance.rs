//! The rebalancer: one task per consumer that, at start, every rebalance
//! interval, and at once when a broker says the group changed, works out
//! which queues this member owns and takes on or gives up queues to match.
//! It also applies offset resets, so queue changes never race each other.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{GetConsumerListRequest, MessageModel, ResetOffsetNotify};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::orderly;
use super::process_queue::ProcessQueue;
use super::shared::{Control, Shared};
use super::subscription::Subscription;
use crate::error::{ClientError, Result};
use crate::route::{MessageQueue, TopicRoute};

/// Longest wait for listener calls of a released queue before its offset
/// is committed anyway (their messages are then read again by the next
/// owner).
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run(shared: Arc<Shared>, mut control: mpsc::Receiver<Control>) {
    let interval = shared.settings.rebalance_interval;
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
            _ = shared.rebalance_now.notified() => {}
            c = control.recv() => match c {
                Some(Control::Reset { broker_addr, notify }) => {
                    reset(&shared, &broker_addr, notify).await;
                    continue;
                }
                None => return,
            },
        }
        rebalance(&shared).await;
    }
}

/// Rebalances every subscribed topic.
pub(super) async fn rebalance(shared: &Arc<Shared>) {
    heartbeat_if_new_brokers(shared).await;
    for sub in &shared.subs {
        if shared.cancel.is_cancelled() {
            return;
        }
        if let Err(e) = rebalance_topic(shared, sub).await {
            debug!(group = %shared.group, topic = %sub.topic, error = %e, "rebalance skipped");
        }
    }
}

/// Heartbeats at once if a subscribed route names a broker that has not
/// had our heartbeat (new broker, route just created), so it lists us
/// before we ask it for the group's members.
pub(super) async fn heartbeat_if_new_brokers(shared: &Shared) {
    let targets = shared.client.heartbeat_targets().await;
    if targets.is_subset(&shared.heartbeated.lock()) {
        return;
    }
    heartbeat(shared, &targets).await;
}

pub(super) async fn heartbeat(shared: &Shared, targets: &BTreeSet<String>) {
    let ok = shared.client.send_heartbeat(targets).await;
    shared.heartbeated.lock().extend(ok);
}

async fn rebalance_topic(shared: &Arc<Shared>, sub: &Arc<Subscription>) -> Result<()> {
    let route = shared.client.topic_route(&sub.topic).await?;
    let mine = match shared.settings.model {
        MessageModel::Broadcasting => route.read_queues().to_vec(),
        MessageModel::Clustering => {
            let members = members(shared, &route).await?;
            let me = shared.client.client_id();
            if !members.iter().any(|m| m == me) {
                // The broker has not seen our heartbeat (it restarted, or
                // it is new): keep what we have and announce ourselves.
                info!(group = %shared.group, topic = %sub.topic, "not yet listed as a group member; heartbeating");
                let targets = shared.client.heartbeat_targets().await;
                heartbeat(shared, &targets).await;
                return Ok(());
            }
            shared
                .settings
                .allocate
                .allocate(me, &members, route.read_queues())
        }
    };
    update(shared, sub, mine).await;
    Ok(())
}

/// The group's members as a broker of the topic lists them: a master,
/// else a slave (members heartbeat both).
async fn members(shared: &Shared, route: &TopicRoute) -> Result<Vec<String>> {
    let req = GetConsumerListRequest {
        group: shared.group.clone(),
    };
    let mut last = ClientError::NoRoute(route.topic().to_string());
    let masters = route.masters().map(|(_, a)| a);
    let slaves = route
        .all_addrs()
        .filter(|a| !route.masters().any(|(_, m)| m == *a));
    for addr in masters.chain(slaves) {
        match shared.client.call_header(addr, &req).await {
            Ok(list) => return Ok(list.client_ids),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Gives up owned queues of `sub`'s topic outside `mine` and takes on the
/// missing ones.
async fn update(shared: &Arc<Shared>, sub: &Arc<Subscription>, mine: Vec<MessageQueue>) {
    let mine: BTreeSet<MessageQueue> = mine.into_iter().collect();
    let removed: Vec<Arc<ProcessQueue>> = {
        let mut queues = shared.queues.lock();
        let gone: Vec<MessageQueue> = queues
            .keys()
            .filter(|q| q.topic == sub.topic && !mine.contains(*q))
            .cloned()
            .collect();
        gone.iter().filter_map(|q| queues.remove(q)).collect()
    };
    if !removed.is_empty() {
        let names: Vec<String> = removed.iter().map(|p| p.queue.to_string()).collect();
        info!(group = %shared.group, queues = ?names, "giving up queues");
        release_all(shared, removed, DRAIN_TIMEOUT).await;
    }
    let added: Vec<MessageQueue> = {
        let queues = shared.queues.lock();
        mine.into_iter()
            .filter(|q| !queues.contains_key(q))
            .collect()
    };
    if !added.is_empty() {
        let names: Vec<String> = added.iter().map(ToString::to_string).collect();
        info!(group = %shared.group, queues = ?names, "taking on queues");
    }
    for q in added {
        shared.take_queue(q, sub.clone(), None);
    }
}

/// Gives queues up: stops their pulls, lets running listener calls finish
/// (up to `drain`), commits each queue's offset, and releases orderly
/// locks.
pub(super) async fn release_all(shared: &Shared, pqs: Vec<Arc<ProcessQueue>>, drain: Duration) {
    for pq in &pqs {
        pq.dropped.cancel();
    }
    let waits = pqs.iter().map(|pq| async move {
        // Orderly: the batch being processed finishes first.
        let _consuming = tokio::time::timeout(drain, pq.consuming.lock()).await;
        if !pq.drain(drain).await {
            warn!(queue = %pq.queue, "listener calls still running; their messages will be read again");
        }
    });
    futures::future::join_all(waits).await;
    let entries: Vec<_> = pqs
        .iter()
        .filter_map(|pq| Some((pq.clone(), pq.commit_offset()?)))
        .collect();
    if let Err(e) = super::offsets::commit(shared, &entries).await {
        warn!(group = %shared.group, error = %e, "offset commit of released queues failed");
    }
    if shared.needs_lock() {
        let queues: Vec<MessageQueue> = pqs.iter().map(|p| p.queue.clone()).collect();
        orderly::unlock(shared, &queues).await;
    }
}

/// Applies an offset reset from the broker at `broker_addr`: each of our
/// queues it names drops its window and starts over at the given offset,
/// which is committed at once.
async fn reset(shared: &Arc<Shared>, broker_addr: &str, n: ResetOffsetNotify) {
    if n.group != shared.group {
        return;
    }
    let Some(sub) = shared.subs.iter().find(|s| s.topic == n.topic).cloned() else {
        debug!(group = %shared.group, topic = %n.topic, "offset reset for a topic we do not subscribe to");
        return;
    };
    let broker = match shared.client.refresh_route(&n.topic).await {
        Ok(route) => route
            .masters()
            .find(|(_, a)| *a == broker_addr)
            .map(|(name, _)| name.clone()),
        Err(e) => {
            warn!(topic = %n.topic, error = %e, "offset reset: no route");
            None
        }
    };
    let Some(broker) = broker else {
        warn!(topic = %n.topic, %broker_addr, "offset reset from a broker not in the topic's route; ignored");
        return;
    };
    for (queue_id, offset) in n.offsets {
        let q = MessageQueue::new(n.topic.clone(), broker.clone(), queue_id);
        let Some(old) = shared.queues.lock().remove(&q) else {
            continue;
        };
        old.dropped.cancel();
        // One batch of a queue at a time, also across the reset.
        let _consuming = tokio::time::timeout(DRAIN_TIMEOUT, old.consuming.lock()).await;
        info!(queue = %q, %offset, "offset reset by the broker; restarting the queue there");
        let pq = shared.take_queue(q, sub.clone(), Some(offset));
        if let Err(e) = super::offsets::commit(shared, &[(pq, offset)]).await {
            warn!(error = %e, "commit of the reset offset failed; retried by the next persist");
        }
    }
}
