//! `UnregisterClient`: a client leaves a consumer group (or all of them).

use ferromq_protocol::header::{Empty, UnregisterClientRequest};
use ferromq_remoting::{Request, Response};

use super::{check_client_id, decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn unregister(b: &Broker, req: &Request) -> HandlerResult {
    let h: UnregisterClientRequest = decode(req)?;
    check_client_id(&h.client_id)?;
    // A producer-only unregistration leaves the consumer groups alone; no
    // consumer group named means "every group" (a client shutting down).
    if h.consumer_group.is_some() || h.producer_group.is_none() {
        b.groups()
            .unregister(&h.client_id, h.consumer_group.as_ref());
    }
    Ok(Response::ok(&Empty {}))
}
