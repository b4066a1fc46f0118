//! `ResetOffsetByTime`: move a group's committed offsets on a topic to the
//! first message stored at or after a time, and tell its live members.

use ferromq_protocol::header::{ResetOffsetNotify, ResetOffsetRequest, ResetOffsetResponse};
use ferromq_protocol::{QueueId, ResponseCode};
use ferromq_remoting::{Request, Response};
use tracing::info;

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) async fn reset_offset(b: &Broker, req: &Request) -> HandlerResult {
    let h: ResetOffsetRequest = decode(req)?;
    let config = b.topic_config(&h.topic)?;
    // A binary search per queue, each probe a pread: off the runtime.
    let store = b.store_arc();
    let (topic, ts) = (h.topic.clone(), h.timestamp_ms);
    let offsets = tokio::task::spawn_blocking(move || {
        (0..config.read_queues)
            .map(QueueId::new)
            .map(|q| (q, store.offset_by_timestamp(&topic, q, ts)))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| {
        Response::error(
            ResponseCode::SystemError,
            format!("search task failed: {e}"),
        )
    })?;
    for (q, o) in &offsets {
        b.offsets().commit(&h.group, &h.topic, *q, *o);
    }
    let reached = b.groups().notify_reset(&ResetOffsetNotify {
        group: h.group.clone(),
        topic: h.topic.clone(),
        offsets: offsets.clone(),
    });
    info!(group = %h.group, topic = %h.topic, timestamp_ms = h.timestamp_ms, queues = offsets.len(),
          members_told = reached, peer = %req.peer, "consumer offsets reset by time");
    Ok(Response::ok(&ResetOffsetResponse { offsets }))
}
