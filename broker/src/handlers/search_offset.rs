//! `SearchOffsetByTimestamp`: the first queue offset stored at or after a
//! time, by the store's binary search over the queue.

use ferromq_protocol::header::{OffsetResponse, SearchOffsetRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn search_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: SearchOffsetRequest = decode(req)?;
    b.topic_config(&h.topic)?;
    let offset = b
        .store()
        .offset_by_timestamp(&h.topic, h.queue_id, h.timestamp_ms);
    Ok(Response::ok(&OffsetResponse { offset }))
}
