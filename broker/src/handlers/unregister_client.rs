//! `UnregisterClient`: a client leaves a consumer group (or all of them).

use ferromq_protocol::header::{Empty, UnregisterClientRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn unregister(b: &Broker, req: &Request) -> HandlerResult {
    let h: UnregisterClientRequest = decode(&req.header)?;
    b.unregister_client(&h)?;
    Ok(Response::ok(&Empty {}))
}
