//! `UpdateSubscriptionGroup`: create or change a group's settings.

use ferromq_protocol::header::{Empty, UpdateSubscriptionGroupRequest};
use ferromq_protocol::ResponseCode;
use ferromq_remoting::{Request, Response};
use tracing::info;

use super::{decode, HandlerResult};
use crate::broker::Broker;
use crate::groups::SubscriptionGroupError;

pub(super) fn update_sub_group(b: &Broker, req: &Request) -> HandlerResult {
    let h: UpdateSubscriptionGroupRequest = decode(req)?;
    let c = h.config;
    let group = c.group.clone();
    let summary = format!(
        "retry_max_times={} consume_broadcast={} consume_enable={}",
        c.retry_max_times, c.consume_broadcast, c.consume_enable
    );
    b.groups().subscriptions().upsert(c).map_err(|e| {
        let code = match e {
            SubscriptionGroupError::Io(_) => ResponseCode::SystemError,
            _ => ResponseCode::BadRequest,
        };
        Response::error(
            code,
            format!("cannot update subscription group {group}: {e}"),
        )
    })?;
    info!(%group, settings = %summary, peer = %req.peer, "subscription group created or updated");
    Ok(Response::ok(&Empty {}))
}
