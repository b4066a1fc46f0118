//! `ResetOffsetByTime`: move a group's committed offsets on a topic to the
//! first message stored at or after a time, and tell its live members.

use ferromq_protocol::header::{ResetOffsetRequest, ResetOffsetResponse};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) async fn reset_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: ResetOffsetRequest = decode(&req.header)?;
    let offsets = b
        .reset_offsets(&h.group, &h.topic, h.timestamp_ms, req.peer)
        .await?;
    Ok(Response::ok(&ResetOffsetResponse { offsets }))
}
