//! The route cache: filled on first use of a topic, refreshed by a
//! background task every refresh interval, and on demand by producers and
//! consumers after an error that suggests the route changed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferromq_protocol::header::GetRouteInfoRequest;
use ferromq_protocol::{ResponseCode, TopicName};
use tracing::{debug, warn};

use super::MqClient;
use crate::error::{ClientError, Result};
use crate::route::TopicRoute;

impl MqClient {
    /// The topic's route, from the cache or else from a NameServer.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] if no NameServer knows the topic; NameServer
    /// errors.
    pub async fn topic_route(&self, topic: &TopicName) -> Result<Arc<TopicRoute>> {
        if let Some(r) = self.cached_route(topic) {
            return Ok(r);
        }
        self.refresh_route(topic).await
    }

    /// The cached route of a topic, without asking anyone.
    pub fn cached_route(&self, topic: &TopicName) -> Option<Arc<TopicRoute>> {
        self.inner.routes.read().get(topic).cloned()
    }

    /// Reads the topic's route from a NameServer now and caches it. A topic
    /// the NameServers no longer know is dropped from the cache.
    ///
    /// # Errors
    /// As [`Self::topic_route`].
    pub async fn refresh_route(&self, topic: &TopicName) -> Result<Arc<TopicRoute>> {
        self.ensure_refresher();
        match self.fetch_route(topic).await {
            Ok(route) => {
                let route = Arc::new(route);
                self.inner
                    .routes
                    .write()
                    .insert(topic.clone(), route.clone());
                self.inner.provisional.write().remove(topic);
                Ok(route)
            }
            Err(e) => {
                if matches!(e, ClientError::NoRoute(_)) {
                    self.inner.routes.write().remove(topic);
                }
                Err(e)
            }
        }
    }

    async fn fetch_route(&self, topic: &TopicName) -> Result<TopicRoute> {
        let req = GetRouteInfoRequest {
            topic: topic.clone(),
        };
        let data = match self.namesrv_call(&req).await {
            Ok(d) => d,
            Err(e) if e.response_code() == Some(ResponseCode::TopicNotExist) => {
                return Err(ClientError::NoRoute(topic.to_string()))
            }
            Err(e) => return Err(e),
        };
        let route = TopicRoute::from_data(topic.clone(), data);
        if route.is_empty() {
            return Err(ClientError::NoRoute(topic.to_string()));
        }
        Ok(route)
    }

    /// Starts the periodic refresher once. It holds only a weak reference,
    /// so it ends when the last `MqClient` clone is dropped.
    fn ensure_refresher(&self) {
        if self.inner.refresher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let token = self.inner.shutdown.clone();
        let interval = self.config().route_refresh_interval();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                MqClient { inner }.refresh_all_routes().await;
            }
        });
    }

    async fn refresh_all_routes(&self) {
        let topics: Vec<TopicName> = self.inner.routes.read().keys().cloned().collect();
        for topic in topics {
            match self.refresh_route(&topic).await {
                Ok(_) => debug!(%topic, "route refreshed"),
                Err(ClientError::NoRoute(_)) => warn!(%topic, "topic has no route any more"),
                // Keep the old route: a NameServer outage must not stop
                // traffic to brokers that are still there.
                Err(e) => {
                    warn!(%topic, error = %e, "route refresh failed; keeping the cached route")
                }
            }
        }
        self.refresh_provisional_routes().await;
    }
}
