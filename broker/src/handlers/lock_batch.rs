//! `LockBatchMq`: take or renew queue locks for orderly consumption.

use ferromq_protocol::header::{LockBatchRequest, LockBatchResponse};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn lock_batch(b: &Broker, req: &Request) -> HandlerResult {
    let h: LockBatchRequest = decode(&req.header)?;
    let locked = b.lock_queues(&h.group, &h.client_id, &h.queues)?;
    Ok(Response::ok(&LockBatchResponse { locked }))
}
