//! Where a queue starts, and committing how far the group got: to the
//! broker (clustering) or to the local offsets file (broadcasting), every
//! persist interval and whenever a queue is released.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferromq_protocol::header::{
    GetMaxOffsetRequest, GetMinOffsetRequest, OffsetEntry, QueryConsumerOffsetRequest,
    SearchOffsetRequest, UpdateConsumerOffsetRequest,
};
use ferromq_protocol::{BrokerName, QueueOffset};
use tracing::{debug, warn};

use super::process_queue::ProcessQueue;
use super::settings::ConsumeFromWhere;
use super::shared::Shared;
use super::subscription::Origin;
use crate::error::Result;

/// Finds and records where `pq` starts: an offset reset, else the group's
/// committed offset (broker or local file), else what
/// [`ConsumeFromWhere`] asks for.
pub(super) async fn start_offset(
    shared: &Shared,
    pq: &ProcessQueue,
    addr: &str,
) -> Result<QueueOffset> {
    if let Some(at) = pq.start_at {
        pq.start(at, false);
        return Ok(at);
    }
    let q = &pq.queue;
    let stored = match &shared.local {
        Some(local) => local.get(q),
        None => {
            let req = QueryConsumerOffsetRequest {
                consumer_group: shared.group.clone(),
                topic: q.topic.clone(),
                queue_id: q.queue_id,
            };
            shared.client.call_header(addr, &req).await?.offset
        }
    };
    let (start, committed) = match stored {
        Some(o) => (o, true),
        None => (initial(shared, pq, addr).await?, false),
    };
    debug!(queue = %q, offset = %start, committed, "queue start offset");
    pq.start(start, committed);
    Ok(start)
}

async fn initial(shared: &Shared, pq: &ProcessQueue, addr: &str) -> Result<QueueOffset> {
    let (client, q) = (&shared.client, &pq.queue);
    let from = match pq.sub.origin {
        // Everything in a retry topic is a pending retry of this group.
        Origin::Retry => ConsumeFromWhere::FirstOffset,
        Origin::Application => shared.settings.consume_from,
    };
    let offset = match from {
        ConsumeFromWhere::FirstOffset => {
            let req = GetMinOffsetRequest {
                topic: q.topic.clone(),
                queue_id: q.queue_id,
            };
            client.call_header(addr, &req).await?.offset
        }
        ConsumeFromWhere::LastOffset => {
            let req = GetMaxOffsetRequest {
                topic: q.topic.clone(),
                queue_id: q.queue_id,
            };
            client.call_header(addr, &req).await?.offset
        }
        ConsumeFromWhere::Timestamp(ms) => {
            let req = SearchOffsetRequest {
                topic: q.topic.clone(),
                queue_id: q.queue_id,
                timestamp_ms: ms,
            };
            client.call_header(addr, &req).await?.offset
        }
    };
    Ok(offset)
}

/// Commits `entries`: one request per broker (clustering), or one write
/// of the offsets file (broadcasting).
///
/// # Errors
/// The first failure; the other brokers' offsets are committed anyway,
/// and failed ones stay uncommitted for the next attempt.
pub(super) async fn commit(
    shared: &Shared,
    entries: &[(Arc<ProcessQueue>, QueueOffset)],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if let Some(local) = &shared.local {
        for (pq, o) in entries {
            local.set(&pq.queue, *o);
        }
        local.persist().await?;
        for (pq, o) in entries {
            pq.committed(*o);
        }
        return Ok(());
    }
    let mut by_broker: BTreeMap<&BrokerName, Vec<&(Arc<ProcessQueue>, QueueOffset)>> =
        BTreeMap::new();
    for e in entries {
        by_broker.entry(&e.0.queue.broker_name).or_default().push(e);
    }
    let calls = by_broker.into_iter().map(|(broker, es)| async move {
        let topic = &es[0].0.queue.topic;
        let addr = shared.read_addr(topic, broker).await?;
        let req = UpdateConsumerOffsetRequest {
            consumer_group: shared.group.clone(),
            offsets: es
                .iter()
                .map(|(pq, o)| OffsetEntry {
                    topic: pq.queue.topic.clone(),
                    queue_id: pq.queue.queue_id,
                    offset: *o,
                })
                .collect(),
        };
        shared.client.call_header(&addr, &req).await?;
        for (pq, o) in es {
            pq.committed(*o);
        }
        Ok(())
    });
    let mut first = None;
    for r in futures::future::join_all(calls).await {
        if let Err(e) = r {
            warn!(group = %shared.group, error = %e, "offset commit failed");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Commits every owned queue whose offset moved.
///
/// # Errors
/// As [`commit`].
pub(super) async fn persist_all(shared: &Shared) -> Result<()> {
    let entries: Vec<_> = shared
        .owned()
        .into_iter()
        .filter_map(|pq| {
            let o = pq.uncommitted()?;
            Some((pq, o))
        })
        .collect();
    commit(shared, &entries).await
}

/// Commits every persist interval until the consumer stops.
pub(super) async fn persist_loop(shared: Arc<Shared>) {
    let interval = shared.settings.offset_persist_interval;
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(e) = persist_all(&shared).await {
            debug!(group = %shared.group, error = %e, "periodic offset commit failed; retrying next time");
        }
    }
}
