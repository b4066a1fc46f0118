//! One owned queue's pull loop: (orderly: take the queue lock first) find
//! the start offset, keep one long-polling pull in flight, re-check tags,
//! put messages into the window and hand them to the consumers, and pause
//! while the window is full. Ends when the queue is dropped.

use std::sync::Arc;

use ferromq_protocol::QueueOffset;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::super::pull::{
    pull_once, PullSpec, Pulled, BACKOFF_MAX, BACKOFF_MIN, EMPTY_PAUSE, FAST_EMPTY,
};
use super::orderly;
use super::process_queue::ProcessQueue;
use super::shared::Shared;
use crate::error::{ClientError, Result};

pub(super) async fn run(shared: Arc<Shared>, pq: Arc<ProcessQueue>) {
    if shared.needs_lock() && !orderly::acquire(&shared, &pq).await {
        return;
    }
    let mut backoff = BACKOFF_MIN;
    // The replica the last answer suggested (0: the master).
    let mut suggested = 0;
    let limits = shared.settings.limits;
    while !pq.is_dropped() {
        pq.wait_for_space(limits).await;
        let step = async {
            let addr = shared
                .client
                .read_addr_suggested(&pq.queue.topic, &pq.queue.broker_name, suggested)
                .await?;
            let from = match pq.next_offset() {
                Some(o) => o,
                None => super::offsets::start_offset(&shared, &pq, &addr).await?,
            };
            let started = Instant::now();
            let (pulled, next_replica) = pull(&shared, &pq, &addr, from).await?;
            Ok::<_, ClientError>((from, pulled, started.elapsed(), next_replica))
        };
        let result = tokio::select! {
            _ = pq.dropped.cancelled() => return,
            r = step => r,
        };
        let result = result.map(|(from, pulled, took, next_replica)| {
            suggested = next_replica;
            (from, pulled, took)
        });
        let pause = match result {
            Ok((_, Pulled::Messages(msgs, next), _)) => {
                backoff = BACKOFF_MIN;
                pq.add(&msgs, next);
                if !msgs.is_empty() {
                    shared.dispatch(&pq, msgs);
                }
                None
            }
            Ok((from, Pulled::Skipped(next), _)) => {
                backoff = BACKOFF_MIN;
                pq.jump(next.max(from));
                // A broker that does not move forward must not make us spin.
                (next <= from).then_some(EMPTY_PAUSE)
            }
            Ok((from, Pulled::Nothing(next), took)) => {
                backoff = BACKOFF_MIN;
                pq.jump(next.max(from));
                (took < FAST_EMPTY).then_some(EMPTY_PAUSE)
            }
            Ok((from, Pulled::Moved(next), _)) => {
                warn!(queue = %pq.queue, %from, to = %next,
                    "pull offset is outside the queue (messages expired or queue reset); jumping");
                pq.jump(next);
                None
            }
            Err(e) => {
                warn!(queue = %pq.queue, error = %e, retry_in_ms = backoff.as_millis() as u64, "pull failed");
                if e.is_retryable() || matches!(e, ClientError::NoRoute(_)) {
                    if let Err(e) = shared.client.refresh_route(&pq.queue.topic).await {
                        debug!(queue = %pq.queue, error = %e, "route refresh after a failed pull failed");
                    }
                }
                let wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                Some(wait)
            }
        };
        if let Some(d) = pause {
            tokio::select! {
                _ = pq.dropped.cancelled() => return,
                _ = tokio::time::sleep(d) => {}
            }
        }
    }
}

async fn pull(
    shared: &Shared,
    pq: &ProcessQueue,
    addr: &str,
    offset: QueueOffset,
) -> Result<(Pulled, u64)> {
    let s = &shared.settings;
    let spec = PullSpec {
        group: &shared.group,
        queue: &pq.queue,
        batch: s.pull_batch_size,
        hold: s.long_poll_hold,
        expression: pq.sub.pull_expression(),
    };
    let (pulled, suggested) = pull_once(&shared.client, addr, &spec, offset).await?;
    let pulled = match pulled {
        // The broker filters by tag hash; the tag string settles collisions.
        Pulled::Messages(mut msgs, next) => {
            msgs.retain(|m| pq.sub.matches(m));
            Pulled::Messages(msgs, next)
        }
        other => other,
    };
    Ok((pulled, suggested))
}
