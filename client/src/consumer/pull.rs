//! One pull request and what it brought, shared by the pull consumer's
//! queue tasks and the push consumer's pull loops.

use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::PullMessageRequest;
use ferromq_protocol::{record, GroupName, QueueOffset, ResponseCode, StoredMessage};

use crate::decode;
use crate::error::{ClientError, Result};
use crate::route::MessageQueue;
use crate::MqClient;

/// Upper bound of one pull response's records, well under the frame limit
/// even when a single record is a maximum-size message.
pub(super) const PULL_MAX_BYTES: u32 = 8 * 1024 * 1024;
/// First and longest wait after a failed pull.
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A "nothing new" answer faster than this means the broker did not hold
/// the pull (hold 0, or a broker without long polling); wait a little
/// before asking again instead of spinning.
pub(super) const FAST_EMPTY: Duration = Duration::from_millis(50);
pub(super) const EMPTY_PAUSE: Duration = Duration::from_millis(200);

/// What one pull brought.
#[derive(Debug)]
pub(super) enum Pulled {
    /// Messages (decompressed; maybe none if all were skipped) and the next
    /// offset to pull from.
    Messages(Vec<StoredMessage>, QueueOffset),
    /// Nothing new yet.
    Nothing(QueueOffset),
    /// Every record read was filtered out by tag; pull again at once from here.
    Skipped(QueueOffset),
    /// The offset is outside the queue; continue from here.
    Moved(QueueOffset),
}

/// What to pull.
pub(super) struct PullSpec<'a> {
    pub(super) group: &'a GroupName,
    pub(super) queue: &'a MessageQueue,
    pub(super) batch: u32,
    pub(super) hold: Duration,
    pub(super) expression: Option<String>,
}

/// Sends one (long-polling) pull for `spec.queue` from `offset` to `addr`;
/// also which replica the broker suggests for the next pull (0: the
/// master).
///
/// # Errors
/// Transport errors, the broker's errors and undecodable records.
pub(super) async fn pull_once(
    client: &MqClient,
    addr: &str,
    spec: &PullSpec<'_>,
    offset: QueueOffset,
) -> Result<(Pulled, u64)> {
    let req = PullMessageRequest {
        consumer_group: spec.group.clone(),
        topic: spec.queue.topic.clone(),
        queue_id: spec.queue.queue_id,
        queue_offset: offset,
        max_messages: spec.batch,
        max_bytes: PULL_MAX_BYTES,
        hold_ms: u64::try_from(spec.hold.as_millis()).unwrap_or(u64::MAX),
        expression: spec.expression.clone(),
    };
    // The broker may hold the request for the whole hold time.
    let timeout = spec.hold + client.config().request_timeout();
    let reply = client.call(addr, &req, Bytes::new(), timeout).await?;
    let next = reply.header.next_offset;
    let suggested = reply.header.suggest_which_broker_id;
    let pulled = match reply.code {
        ResponseCode::Success => {
            let mut msgs = record::decode_all(&reply.body)?;
            // Never hand out anything before the asked offset, nor more
            // than asked (callers reserve room for one batch).
            msgs.retain(|m| m.queue_offset >= offset);
            let cut = msgs.len() > spec.batch as usize;
            msgs.truncate(spec.batch as usize);
            let Some(last) = msgs.last() else {
                return Ok((Pulled::Nothing(next.max(offset)), suggested));
            };
            let after_last = QueueOffset::new(last.queue_offset.get() + 1);
            let next = if cut {
                after_last
            } else {
                next.max(after_last)
            };
            // After `next` is known: a message skipped here is passed.
            Pulled::Messages(decode::decompress_or_skip(msgs, spec.queue), next)
        }
        ResponseCode::PullRetryImmediately => Pulled::Skipped(next),
        ResponseCode::PullNotFound => Pulled::Nothing(next),
        ResponseCode::PullOffsetMoved => Pulled::Moved(next),
        other => {
            return Err(ClientError::Server {
                addr: addr.to_string(),
                code: other,
                message: "unexpected response code to a pull".into(),
            })
        }
    };
    Ok((pulled, suggested))
}
