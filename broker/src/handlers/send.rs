//! `SendMessage`: append a batch of producer-encoded records to one queue
//! (a delayed message goes through the schedule topic).

use ferromq_protocol::header::{SendMessageRequest, SendMessageResponse};
use ferromq_protocol::ResponseCode;
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::{Broker, SendStatus};

pub(super) async fn send(b: &Broker, req: Request) -> HandlerResult {
    // The header is dropped before the body goes to the store, so the body
    // can be taken over without a copy when nothing else holds the frame.
    let Request { header, body, .. } = req;
    let h: SendMessageRequest = decode(&header)?;
    drop(header);
    let sent = b.send(&h.topic, h.queue_id, h.count, body).await?;
    let code = match sent.status {
        SendStatus::Stored => ResponseCode::Success,
        SendStatus::FlushTimedOut => ResponseCode::FlushDiskTimeout,
        SendStatus::ReplicasTimedOut => ResponseCode::FlushSlaveTimeout,
    };
    Ok(Response::typed(
        code,
        &SendMessageResponse {
            queue_id: h.queue_id,
            queue_offset: sent.append.queue_offset,
            commit_log_offset: sent.append.commit_log_offset,
            store_host: sent.store_host,
        },
    ))
}
