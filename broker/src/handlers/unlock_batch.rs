//! `UnlockBatchMq`: release queue locks the caller holds.

use ferromq_protocol::header::{Empty, UnlockBatchRequest};
use ferromq_remoting::{Request, Response};

use super::{check_client_id, decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn unlock_batch(b: &Broker, req: &Request) -> HandlerResult {
    let h: UnlockBatchRequest = decode(req)?;
    check_client_id(&h.client_id)?;
    b.groups()
        .locks()
        .unlock_batch(&h.group, &h.client_id, &h.queues);
    Ok(Response::ok(&Empty {}))
}
