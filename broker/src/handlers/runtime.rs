//! Broker runtime figures and the broker-wide write permission.

use ferromq_protocol::header::{
    AddWritePermRequest, GetBrokerRuntimeInfoRequest, WipeWritePermRequest, WritePermResponse,
};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn runtime_info(b: &Broker, req: &Request) -> HandlerResult {
    let _: GetBrokerRuntimeInfoRequest = decode(&req.header)?;
    Ok(Response::ok(&b.runtime_info()))
}

pub(super) fn wipe_write_perm(b: &Broker, req: &Request) -> HandlerResult {
    let h: WipeWritePermRequest = decode(&req.header)?;
    let topics = b.set_writable(&h.broker_name, false, req.peer)?;
    Ok(Response::ok(&WritePermResponse { topics }))
}

pub(super) fn add_write_perm(b: &Broker, req: &Request) -> HandlerResult {
    let h: AddWritePermRequest = decode(&req.header)?;
    let topics = b.set_writable(&h.broker_name, true, req.peer)?;
    Ok(Response::ok(&WritePermResponse { topics }))
}
