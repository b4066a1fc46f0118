//! Picks up queues added to subscribed topics (more queues, a new broker)
//! by re-reading routes every refresh interval. The client's own refresher
//! keeps the cached routes fresh; this only starts pull tasks for them.

use std::sync::Arc;

use ferromq_protocol::TopicName;
use tracing::debug;

use super::pull_consumer::Shared;

pub(super) async fn watch_routes(shared: Arc<Shared>) {
    let interval = shared.client.config().route_refresh_interval();
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let topics: Vec<TopicName> = shared.topics.lock().iter().cloned().collect();
        for topic in topics {
            match shared.client.topic_route(&topic).await {
                Ok(route) => shared.start_queues(&route),
                Err(e) => debug!(%topic, error = %e, "route lookup for new queues failed"),
            }
        }
    }
}
