//! `LockBatchMq`: take or renew queue locks for orderly consumption.

use std::time::Instant;

use ferromq_protocol::header::{LockBatchRequest, LockBatchResponse};
use ferromq_remoting::{Request, Response};

use super::{check_client_id, decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn lock_batch(b: &Broker, req: &Request) -> HandlerResult {
    let h: LockBatchRequest = decode(req)?;
    check_client_id(&h.client_id)?;
    let locked = b
        .groups()
        .locks()
        .lock_batch(&h.group, &h.client_id, &h.queues, Instant::now());
    Ok(Response::ok(&LockBatchResponse { locked }))
}
