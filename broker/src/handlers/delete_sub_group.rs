//! `DeleteSubscriptionGroup`: drop a group's settings, committed offsets
//! and queue locks; its retry and dead-letter topics stay.

use ferromq_protocol::header::{DeleteSubscriptionGroupRequest, Empty};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn delete_sub_group(b: &Broker, req: &Request) -> HandlerResult {
    let h: DeleteSubscriptionGroupRequest = decode(&req.header)?;
    b.delete_subscription_group(&h.group, req.peer)?;
    Ok(Response::ok(&Empty {}))
}
