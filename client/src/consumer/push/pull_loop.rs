//! One owned queue's pull loop: (orderly: take the queue lock first) find
//! the start offset, keep one long-polling pull in flight, re-check tags,
//! put messages into the window and hand them to the consumers, and pause
//! while the window is full. Ends when the queue is dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::PullMessageRequest;
use ferromq_protocol::{record, QueueOffset, ResponseCode, StoredMessage};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::orderly;
use super::process_queue::ProcessQueue;
use super::shared::Shared;
use crate::decode;
use crate::error::{ClientError, Result};

/// Upper bound of one pull response's records.
const PULL_MAX_BYTES: u32 = 8 * 1024 * 1024;
/// First and longest wait after a failed pull.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// An empty answer faster than this was not held; wait a little before
/// asking again instead of spinning.
const FAST_EMPTY: Duration = Duration::from_millis(50);
const EMPTY_PAUSE: Duration = Duration::from_millis(200);

/// What one pull brought.
#[derive(Debug)]
enum Pulled {
    /// Messages that passed the tag check (maybe none) and the next offset.
    Messages(Vec<StoredMessage>, QueueOffset),
    /// Nothing new yet.
    Nothing(QueueOffset),
    /// Every record read was filtered out; pull again at once from here.
    Skipped(QueueOffset),
    /// The offset is outside the queue; continue from here.
    Moved(QueueOffset),
}

pub(super) async fn run(shared: Arc<Shared>, pq: Arc<ProcessQueue>) {
    if shared.needs_lock() && !orderly::acquire(&shared, &pq).await {
        return;
    }
    let mut backoff = BACKOFF_MIN;
    let limits = shared.settings.limits;
    while !pq.is_dropped() {
        pq.wait_for_space(limits).await;
        let step = async {
            let addr = shared
                .broker_addr(&pq.queue.topic, &pq.queue.broker_name)
                .await?;
            let from = match pq.next_offset() {
                Some(o) => o,
                None => super::offsets::start_offset(&shared, &pq, &addr).await?,
            };
            let started = Instant::now();
            let pulled = pull(&shared, &pq, &addr, from).await?;
            Ok::<_, ClientError>((from, pulled, started.elapsed()))
        };
        let result = tokio::select! {
            _ = pq.dropped.cancelled() => return,
            r = step => r,
        };
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
) -> Result<Pulled> {
    let s = &shared.settings;
    let req = PullMessageRequest {
        consumer_group: shared.group.clone(),
        topic: pq.queue.topic.clone(),
        queue_id: pq.queue.queue_id,
        queue_offset: offset,
        max_messages: s.pull_batch_size,
        max_bytes: PULL_MAX_BYTES,
        hold_ms: u64::try_from(s.long_poll_hold.as_millis()).unwrap_or(u64::MAX),
        expression: pq.sub.pull_expression(),
    };
    // The broker may hold the request for the whole hold time.
    let timeout = s.long_poll_hold + shared.client.config().request_timeout();
    let reply = shared
        .client
        .call(addr, &req, Bytes::new(), timeout)
        .await?;
    let next = reply.header.next_offset;
    match reply.code {
        ResponseCode::Success => {
            let mut msgs = record::decode_all(&reply.body)?;
            msgs.retain(|m| m.queue_offset >= offset);
            let Some(last) = msgs.last() else {
                return Ok(Pulled::Nothing(next.max(offset)));
            };
            let next = next.max(QueueOffset::new(last.queue_offset.get() + 1));
            // After `next` is known: skipped and filtered messages are passed.
            let mut msgs = decode::decompress_or_skip(msgs, &pq.queue);
            msgs.retain(|m| pq.sub.matches(m));
            Ok(Pulled::Messages(msgs, next))
        }
        ResponseCode::PullRetryImmediately => Ok(Pulled::Skipped(next)),
        ResponseCode::PullNotFound => Ok(Pulled::Nothing(next)),
        ResponseCode::PullOffsetMoved => Ok(Pulled::Moved(next)),
        other => Err(ClientError::Server {
            addr: addr.to_string(),
            code: other,
            message: "unexpected response code to a pull".into(),
        }),
    }
}
