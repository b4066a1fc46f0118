//! `Heartbeat`: a client's consumer groups and subscriptions, every 30 s.

use ferromq_protocol::header::{Empty, HeartbeatRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn heartbeat(b: &Broker, req: &Request) -> HandlerResult {
    let h: HeartbeatRequest = decode(&req.header)?;
    b.heartbeat(&h, &req.conn)?;
    Ok(Response::ok(&Empty {}))
}
