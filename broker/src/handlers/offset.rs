//! Consumer offsets and queue min/max offsets.

use ferromq_protocol::header::{
    Empty, GetMaxOffsetRequest, GetMinOffsetRequest, OffsetResponse, QueryConsumerOffsetRequest,
    QueryConsumerOffsetResponse, UpdateConsumerOffsetRequest,
};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn query(b: &Broker, req: &Request) -> HandlerResult {
    let h: QueryConsumerOffsetRequest = decode(&req.header)?;
    let offset = b.committed_offset(&h.consumer_group, &h.topic, h.queue_id);
    Ok(Response::ok(&QueryConsumerOffsetResponse { offset }))
}

pub(super) fn update(b: &Broker, req: &Request) -> HandlerResult {
    let h: UpdateConsumerOffsetRequest = decode(&req.header)?;
    b.commit_offsets(&h.consumer_group, &h.offsets)?;
    Ok(Response::ok(&Empty {}))
}

pub(super) fn max_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetMaxOffsetRequest = decode(&req.header)?;
    let offset = b.max_offset(&h.topic, h.queue_id)?;
    Ok(Response::ok(&OffsetResponse { offset }))
}

pub(super) fn min_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetMinOffsetRequest = decode(&req.header)?;
    let offset = b.min_offset(&h.topic, h.queue_id)?;
    Ok(Response::ok(&OffsetResponse { offset }))
}
