//! `DeleteSubscriptionGroup`: drop a group's settings, committed offsets
//! and queue locks. Its retry and dead-letter topics stay (they may hold
//! messages an operator still wants).

use ferromq_protocol::header::{DeleteSubscriptionGroupRequest, Empty};
use ferromq_protocol::ResponseCode;
use ferromq_remoting::{Request, Response};
use tracing::info;

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn delete_sub_group(b: &Broker, req: &Request) -> HandlerResult {
    let h: DeleteSubscriptionGroupRequest = decode(req)?;
    let existed = b.groups().subscriptions().remove(&h.group).map_err(|e| {
        Response::error(
            ResponseCode::SystemError,
            format!("cannot delete subscription group {}: {e}", h.group),
        )
    })?;
    let had_offsets = b.offsets().remove_group(&h.group);
    b.groups().forget_group(&h.group);
    info!(group = %h.group, existed, had_offsets, peer = %req.peer, "subscription group deleted");
    Ok(Response::ok(&Empty {}))
}
