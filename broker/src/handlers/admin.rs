//! Topic administration and statistics.

use ferromq_protocol::header::{
    DeleteTopicRequest, Empty, GetConsumeStatsRequest, GetTopicStatsRequest, UpdateTopicRequest,
};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn update_topic(b: &Broker, req: &Request) -> HandlerResult {
    let h: UpdateTopicRequest = decode(&req.header)?;
    b.update_topic(h.config, req.peer)?;
    Ok(Response::ok(&Empty {}))
}

pub(super) async fn delete_topic(b: &Broker, req: &Request) -> HandlerResult {
    let h: DeleteTopicRequest = decode(&req.header)?;
    b.delete_topic(&h.topic, req.peer).await?;
    Ok(Response::ok(&Empty {}))
}

pub(super) fn topic_stats(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetTopicStatsRequest = decode(&req.header)?;
    Ok(Response::ok(&b.topic_stats(&h.topic)?))
}

pub(super) fn consume_stats(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetConsumeStatsRequest = decode(&req.header)?;
    Ok(Response::ok(
        &b.consume_stats(&h.consumer_group, h.topic.as_ref()),
    ))
}
