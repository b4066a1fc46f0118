//! Topic administration and statistics.

use std::collections::BTreeSet;

use ferromq_protocol::header::{
    ConsumeStats, DeleteTopicRequest, Empty, GetConsumeStatsRequest, GetTopicStatsRequest,
    QueueProgress, QueueStats, TopicStats, UpdateTopicRequest,
};
use ferromq_protocol::{QueueId, ResponseCode};
use ferromq_remoting::{Request, Response};
use tracing::info;

use super::{decode, HandlerResult};
use crate::broker::Broker;
use crate::topics::TopicConfigError;

pub(super) fn update_topic(b: &Broker, req: &Request) -> HandlerResult {
    let h: UpdateTopicRequest = decode(req)?;
    let name = h.config.name.clone();
    b.topics().upsert(h.config).map_err(|e| {
        let code = match e {
            TopicConfigError::Io(_) => ResponseCode::SystemError,
            _ => ResponseCode::BadRequest,
        };
        Response::error(code, format!("cannot update topic {name}: {e}"))
    })?;
    info!(topic = %name, peer = %req.peer, "topic created or updated");
    b.register_soon();
    Ok(Response::ok(&Empty {}))
}

pub(super) async fn delete_topic(b: &Broker, req: &Request) -> HandlerResult {
    let h: DeleteTopicRequest = decode(req)?;
    let existed = b.topics().remove(&h.topic).map_err(|e| {
        Response::error(
            ResponseCode::SystemError,
            format!("cannot delete topic {}: {e}", h.topic),
        )
    })?;
    // Deleting pauses the writer and removes files: keep it off the runtime.
    let store = b.store_arc();
    let topic = h.topic.clone();
    tokio::task::spawn_blocking(move || store.delete_topic(&topic))
        .await
        .map_err(|e| {
            Response::error(
                ResponseCode::SystemError,
                format!("delete task failed: {e}"),
            )
        })?
        .map_err(|e| {
            Response::error(
                ResponseCode::SystemError,
                format!("cannot delete queues of {}: {e}", h.topic),
            )
        })?;
    b.offsets().remove_topic(&h.topic);
    b.long_poll().remove_topic(&h.topic);
    info!(topic = %h.topic, existed, peer = %req.peer, "topic deleted");
    b.register_soon();
    Ok(Response::ok(&Empty {}))
}

pub(super) fn topic_stats(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetTopicStatsRequest = decode(req)?;
    let config = b.topic_config(&h.topic)?;
    let store = b.store();
    let queues = (0..config.read_queues.max(config.write_queues))
        .map(QueueId::new)
        .map(|q| QueueStats {
            queue_id: q,
            min_offset: store.min_offset(&h.topic, q),
            max_offset: store.max_offset(&h.topic, q),
            last_update_ms: store.last_store_timestamp(&h.topic, q),
        })
        .collect();
    Ok(Response::ok(&TopicStats { queues }))
}

pub(super) fn consume_stats(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetConsumeStatsRequest = decode(req)?;
    let committed = b
        .offsets()
        .group_offsets(&h.consumer_group, h.topic.as_ref());
    let mut seen = BTreeSet::new();
    let mut queues: Vec<QueueProgress> = committed
        .into_iter()
        .map(|(topic, queue_id, offset)| {
            seen.insert((topic.clone(), queue_id));
            QueueProgress {
                broker_offset: b.store().max_offset(&topic, queue_id),
                topic,
                queue_id,
                consumer_offset: Some(offset),
            }
        })
        .collect();
    // For one topic, also show the queues the group has not committed on yet.
    if let Some(topic) = &h.topic {
        if let Some(config) = b.topics().get(topic) {
            for q in (0..config.read_queues).map(QueueId::new) {
                if !seen.contains(&(topic.clone(), q)) {
                    queues.push(QueueProgress {
                        topic: topic.clone(),
                        queue_id: q,
                        broker_offset: b.store().max_offset(topic, q),
                        consumer_offset: None,
                    });
                }
            }
        }
    }
    queues.sort_by(|a, b| (&a.topic, a.queue_id).cmp(&(&b.topic, b.queue_id)));
    Ok(Response::ok(&ConsumeStats { queues }))
}
