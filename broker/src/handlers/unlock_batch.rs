//! `UnlockBatchMq`: release queue locks the caller holds.

use ferromq_protocol::header::{Empty, UnlockBatchRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn unlock_batch(b: &Broker, req: &Request) -> HandlerResult {
    let h: UnlockBatchRequest = decode(&req.header)?;
    b.unlock_queues(&h.group, &h.client_id, &h.queues)?;
    Ok(Response::ok(&Empty {}))
}
