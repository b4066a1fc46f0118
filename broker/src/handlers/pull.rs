//! `PullMessage`: read a queue, holding the request while it is empty.
//! With a tag expression, non-matching records are skipped (see
//! `filter`); a read that skipped everything answers
//! `PullRetryImmediately` at once with the advanced offset.

use std::time::Duration;

use ferromq_protocol::header::{PullMessageRequest, PullMessageResponse, PERM_READ};
use ferromq_protocol::ResponseCode;
use ferromq_remoting::{Request, Response};
use tokio::time::Instant;

use super::{decode, HandlerResult};
use crate::broker::Broker;
use crate::filter::{self, Pulled, TagFilter};
use ferromq_store::{ReadResult, ReadStatus};

/// Largest batch one pull may ask for.
const MAX_PULL_MESSAGES: u32 = 1024;

pub(super) async fn pull(b: &Broker, req: Request) -> HandlerResult {
    let h: PullMessageRequest = decode(&req)?;
    let topic = b.topic_config(&h.topic)?;
    if topic.perm & PERM_READ == 0 {
        return Err(Response::error(
            ResponseCode::NoPermission,
            format!("topic {} is not readable on broker {}", h.topic, b.name()),
        ));
    }
    if b.groups()
        .subscriptions()
        .get(&h.consumer_group)
        .is_some_and(|g| !g.consume_enable)
    {
        return Err(Response::error(
            ResponseCode::NoPermission,
            format!(
                "consumer group {} may not consume (consume_enable is false)",
                h.consumer_group
            ),
        ));
    }
    let tags = TagFilter::parse(h.expression.as_deref());
    let max_messages = h.max_messages.clamp(1, MAX_PULL_MESSAGES);
    let max_bytes = h.max_bytes.max(1);
    let hold = Duration::from_millis(h.hold_ms).min(b.config().max_pull_hold);
    let deadline = Instant::now() + hold;
    let notify = b.long_poll().notifier(&h.topic, h.queue_id);
    loop {
        // Register interest before reading so an arrival in between wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let pulled = filter::read(
            b.store(),
            &h.topic,
            h.queue_id,
            h.queue_offset,
            max_messages,
            max_bytes,
            tags.as_ref(),
        )
        .map_err(|e| Response::error(ResponseCode::SystemError, format!("read failed: {e}")))?;
        let read = match pulled {
            Pulled::Read(read) => read,
            Pulled::AllFiltered {
                next_offset,
                min_offset,
                max_offset,
            } => {
                return Ok(Response::typed(
                    ResponseCode::PullRetryImmediately,
                    &PullMessageResponse {
                        next_offset,
                        min_offset,
                        max_offset,
                    },
                ))
            }
        };
        let empty = matches!(read.status, ReadStatus::NoNewMessage)
            || (matches!(read.status, ReadStatus::NoQueue) && h.queue_offset.get() == 0);
        if !empty || Instant::now() >= deadline || b.is_shutting_down() || req.conn.is_closed() {
            b.stats().add_gets(read.records.len() as u64);
            return Ok(answer(read, h.queue_offset));
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = b.shutdown_token().cancelled() => {}
            // Nobody will read the answer: stop holding.
            _ = req.conn.gone() => {}
        }
    }
}

fn answer(read: ReadResult, asked: ferromq_protocol::QueueOffset) -> Response {
    let header = PullMessageResponse {
        next_offset: read.next_offset,
        min_offset: read.min_offset,
        max_offset: read.max_offset,
    };
    match read.status {
        ReadStatus::Found => Response::ok(&header).with_body(read.records.into_bytes()),
        ReadStatus::NoNewMessage => Response::typed(ResponseCode::PullNotFound, &header),
        ReadStatus::NoQueue if asked.get() == 0 => {
            Response::typed(ResponseCode::PullNotFound, &header)
        }
        ReadStatus::NoQueue | ReadStatus::OffsetTooSmall | ReadStatus::OffsetOverflow => {
            Response::typed(ResponseCode::PullOffsetMoved, &header)
        }
    }
}
