//! `Heartbeat`: a client's consumer groups and subscriptions, every 30 s.

use std::time::Instant;

use ferromq_protocol::header::{retry_topic, Empty, HeartbeatRequest, MessageModel};
use ferromq_protocol::ResponseCode;
use ferromq_remoting::{Request, Response};
use tracing::warn;

use super::{check_client_id, decode, HandlerResult};
use crate::broker::Broker;
use crate::groups::RegisterError;

/// Longest client version string accepted.
const MAX_VERSION_LEN: usize = 64;

pub(super) fn heartbeat(b: &Broker, req: &Request) -> HandlerResult {
    let h: HeartbeatRequest = decode(req)?;
    check_client_id(&h.client_id)?;
    if h.version.len() > MAX_VERSION_LEN {
        return Err(Response::error(
            ResponseCode::BadRequest,
            format!("client version longer than {MAX_VERSION_LEN} bytes"),
        ));
    }
    b.groups()
        .heartbeat(&h, &req.conn, Instant::now())
        .map_err(|e| {
            let what = match e {
                RegisterError::TooManyGroups => "too many consumer groups on this broker",
                RegisterError::GroupFull => "too many clients in this consumer group",
            };
            Response::error(ResponseCode::SystemBusy, what)
        })?;
    // As in RocketMQ, a clustering group's retry topic exists from its first
    // heartbeat, so its consumers can route `%RETRY%<group>` before any
    // message was sent back.
    for c in h
        .consumers
        .iter()
        .filter(|c| c.model == MessageModel::Clustering)
    {
        if let Some(topic) = retry_topic(&c.group) {
            if let Err(e) = b.ensure_topic(&topic) {
                warn!(group = %c.group, error = %e, "cannot create the retry topic");
            }
        }
    }
    Ok(Response::ok(&Empty {}))
}
