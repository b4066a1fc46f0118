//! `SendMessage`: append a batch of producer-encoded records to one queue.
//! A single message with a `DELAY` level goes to the schedule topic
//! instead, and reaches its queue once the level's delay has passed.

use bytes::{Bytes, BytesMut};
use ferromq_protocol::header::{SendMessageRequest, SendMessageResponse, PERM_WRITE};
use ferromq_protocol::{record, ResponseCode};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::broker::Broker;
use crate::reappend::born_of;
use crate::schedule;
use ferromq_store::{AppendError, AppendResult};

pub(super) async fn send(b: &Broker, req: Request) -> HandlerResult {
    let h: SendMessageRequest = decode(&req)?;
    if !b.state().writable() {
        return Err(Response::error(
            ResponseCode::NoPermission,
            format!(
                "broker {} is not writable (write permission wiped); send elsewhere",
                b.name()
            ),
        ));
    }
    let topic = b.topic_config_for_send(&h.topic)?;
    if topic.perm & PERM_WRITE == 0 {
        return Err(Response::error(
            ResponseCode::NoPermission,
            format!("topic {} is not writable on broker {}", h.topic, b.name()),
        ));
    }
    if h.queue_id.get() >= topic.write_queues {
        return Err(Response::error(
            ResponseCode::BadRequest,
            format!(
                "queue {} is out of range: topic {} has {} write queues on broker {}",
                h.queue_id,
                h.topic,
                topic.write_queues,
                b.name()
            ),
        ));
    }
    if h.count == 0 || req.body.is_empty() {
        return Err(Response::error(
            ResponseCode::MessageIllegal,
            "empty send: no records in the body",
        ));
    }
    let store_host = b.store_host();
    let ok = |code, r: AppendResult| {
        Response::typed(
            code,
            &SendMessageResponse {
                queue_id: h.queue_id,
                queue_offset: r.queue_offset,
                commit_log_offset: r.commit_log_offset,
                store_host,
            },
        )
    };
    #[cfg(feature = "discard-sends")]
    {
        return Ok(ok(
            ResponseCode::Success,
            AppendResult {
                queue_offset: ferromq_protocol::QueueOffset::new(0),
                commit_log_offset: ferromq_protocol::CommitLogOffset::new(0),
                count: h.count,
            },
        ));
    }
    #[allow(unreachable_code)]
    let delay = schedule::requested_level(&req.body, h.count)
        .map_err(|e| Response::error(ResponseCode::MessageIllegal, e.to_string()))?;
    let appended = match delay {
        Some(level) => schedule_delayed(b, &h, &req.body, level).await,
        None => {
            // Stamped in place by the writer: taken over without a copy
            // when nothing else holds the frame's buffer.
            let Request { header, body, .. } = req;
            drop(header);
            let records = body
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            b.store()
                .append(&h.topic, h.queue_id, records, h.count)
                .await
        }
    };
    match appended {
        Ok(r) => Ok(ok(ResponseCode::Success, r)),
        Err(AppendError::FlushTimeout(r)) => Ok(ok(ResponseCode::FlushDiskTimeout, r)),
        Err(e) => Err(append_error(e)),
    }
}

/// Stores a delayed message in the schedule topic. The answer names the
/// schedule-topic record (its offsets make the message id), as RocketMQ's
/// does.
async fn schedule_delayed(
    b: &Broker,
    h: &SendMessageRequest,
    body: &Bytes,
    level: u32,
) -> Result<AppendResult, AppendError> {
    let m = record::decode(body).map_err(|e| AppendError::Invalid(e.to_string()))?;
    if m.stored_size as usize != body.len() {
        return Err(AppendError::Invalid(
            "body holds more than the one record announced".into(),
        ));
    }
    if m.message.topic != h.topic {
        return Err(AppendError::Invalid(format!(
            "record is for topic {}, not {}",
            m.message.topic, h.topic
        )));
    }
    let born = born_of(&m, m.reconsume_times);
    b.scheduler()
        .schedule(b.store(), m.message, born, h.queue_id, level)
        .await
}

pub(super) fn append_error(e: AppendError) -> Response {
    let (code, msg) = match &e {
        AppendError::Invalid(m) => (ResponseCode::MessageIllegal, m.clone()),
        AppendError::Poisoned(m) => (
            ResponseCode::StoreError,
            format!("the store refuses writes after a disk error ({m}); restart the broker after fixing the disk"),
        ),
        AppendError::ShuttingDown => (ResponseCode::ServiceNotAvailable, "broker is shutting down".to_string()),
        AppendError::DiskFull(m) => (
            ResponseCode::DiskFull,
            format!("disk full: {m}; sends are refused until retention frees space, reads go on"),
        ),
        AppendError::Busy => (ResponseCode::SystemBusy, "broker is busy; try again".to_string()),
        AppendError::Stalled(after) => (
            ResponseCode::SystemBusy,
            format!(
                "the broker's store did not reach this message within {} ms (a disk write is stalling); nothing was written, try again",
                after.as_millis()
            ),
        ),
        other => (ResponseCode::SystemError, other.to_string()),
    };
    Response::error(code, msg)
}
