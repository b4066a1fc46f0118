//! `UpdateSubscriptionGroup`: create or change a group's settings.

use ferromq_protocol::header::{Empty, UpdateSubscriptionGroupRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn update_sub_group(b: &Broker, req: &Request) -> HandlerResult {
    let h: UpdateSubscriptionGroupRequest = decode(&req.header)?;
    b.update_subscription_group(h.config, req.peer)?;
    Ok(Response::ok(&Empty {}))
}
