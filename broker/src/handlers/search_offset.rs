//! `SearchOffsetByTimestamp`: the first queue offset stored at or after a
//! time.

use ferromq_protocol::header::{OffsetResponse, SearchOffsetRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn search_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: SearchOffsetRequest = decode(&req.header)?;
    let offset = b.offset_by_time(&h.topic, h.queue_id, h.timestamp_ms)?;
    Ok(Response::ok(&OffsetResponse { offset }))
}
