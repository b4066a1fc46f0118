//! Consumer offsets and queue min/max offsets.

use ferromq_protocol::header::{
    Empty, GetMaxOffsetRequest, GetMinOffsetRequest, OffsetResponse, QueryConsumerOffsetRequest,
    QueryConsumerOffsetResponse, UpdateConsumerOffsetRequest,
};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn query(b: &Broker, req: &Request) -> HandlerResult {
    let h: QueryConsumerOffsetRequest = decode(req)?;
    let offset = b.offsets().query(&h.consumer_group, &h.topic, h.queue_id);
    Ok(Response::ok(&QueryConsumerOffsetResponse { offset }))
}

pub(super) fn update(b: &Broker, req: &Request) -> HandlerResult {
    let h: UpdateConsumerOffsetRequest = decode(req)?;
    for e in &h.offsets {
        b.topic_config(&e.topic)?;
    }
    for e in h.offsets {
        b.offsets()
            .commit(&h.consumer_group, &e.topic, e.queue_id, e.offset);
    }
    Ok(Response::ok(&Empty {}))
}

pub(super) fn max_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetMaxOffsetRequest = decode(req)?;
    b.topic_config(&h.topic)?;
    let offset = b.store().max_offset(&h.topic, h.queue_id);
    Ok(Response::ok(&OffsetResponse { offset }))
}

pub(super) fn min_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetMinOffsetRequest = decode(req)?;
    b.topic_config(&h.topic)?;
    let offset = b.store().min_offset(&h.topic, h.queue_id);
    Ok(Response::ok(&OffsetResponse { offset }))
}
