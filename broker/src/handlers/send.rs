//! `SendMessage`: append a batch of producer-encoded records to one queue.

use bytes::BytesMut;
use ferromq_client::remoting::{Request, Response};
use ferromq_protocol::header::{SendMessageRequest, SendMessageResponse, PERM_WRITE};
use ferromq_protocol::ResponseCode;

use super::{decode, HandlerResult};
use crate::broker::Broker;
use crate::store::{AppendError, AppendResult};

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
    let records = BytesMut::from(&req.body[..]);
    match b
        .store()
        .append(&h.topic, h.queue_id, records, h.count)
        .await
    {
        Ok(r) => Ok(ok(ResponseCode::Success, r)),
        Err(AppendError::FlushTimeout(r)) => Ok(ok(ResponseCode::FlushDiskTimeout, r)),
        Err(e) => Err(append_error(e)),
    }
}

fn append_error(e: AppendError) -> Response {
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
        other => (ResponseCode::SystemError, other.to_string()),
    };
    Response::error(code, msg)
}
