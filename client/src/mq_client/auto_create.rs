//! Routes for sending to topics that do not exist yet. Brokers that create
//! topics on first send register the auto-create topic `TBW102`; when the
//! NameServers know nothing of a topic, a producer sends to those brokers
//! (see [`TopicRoute::provisional`]) and the broker that gets the message
//! creates the topic and registers it at once. The real route replaces the
//! made-up one at the next refresh. Consumers and admin calls never see a
//! provisional route: they use [`MqClient::topic_route`].

use std::sync::Arc;

use ferromq_protocol::header::AUTO_CREATE_TOPIC;
use ferromq_protocol::TopicName;
use tracing::{debug, info};

use super::MqClient;
use crate::error::{ClientError, Result};
use crate::route::TopicRoute;

impl MqClient {
    /// The route a producer sends `topic` by: the cached route, else a
    /// cached provisional one, else the NameServers' answer, else a
    /// provisional route from the auto-create topic's route. With `fresh`
    /// (after a failed send) both are read from the NameServers again; if
    /// they cannot be reached, the cached route is still the best guess.
    ///
    /// # Errors
    /// [`ClientError::NoRoute`] if neither the topic nor the auto-create
    /// topic has a route; NameServer errors when nothing is cached.
    pub(crate) async fn send_route(
        &self,
        topic: &TopicName,
        fresh: bool,
    ) -> Result<Arc<TopicRoute>> {
        if !fresh {
            if let Some(r) = self.cached_route(topic) {
                return Ok(r);
            }
            if let Some(r) = self.cached_provisional(topic) {
                return Ok(r);
            }
        }
        match self.refresh_route(topic).await {
            Ok(r) => Ok(r),
            Err(ClientError::NoRoute(_)) => self.provisional_route(topic, fresh).await,
            Err(e) if fresh => {
                debug!(%topic, error = %e, "route refresh failed; using the cached route");
                self.cached_route(topic)
                    .or_else(|| self.cached_provisional(topic))
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    fn cached_provisional(&self, topic: &TopicName) -> Option<Arc<TopicRoute>> {
        self.inner.provisional.read().get(topic).cloned()
    }

    /// Builds and caches a provisional route for `topic`.
    async fn provisional_route(&self, topic: &TopicName, fresh: bool) -> Result<Arc<TopicRoute>> {
        let no_route = || ClientError::NoRoute(topic.to_string());
        let auto = TopicName::new(AUTO_CREATE_TOPIC)?;
        if *topic == auto {
            return Err(no_route());
        }
        let auto_route = if fresh {
            self.refresh_route(&auto).await
        } else {
            self.topic_route(&auto).await
        };
        let auto_route = match auto_route {
            Ok(r) => r,
            Err(ClientError::NoRoute(_)) => {
                self.inner.provisional.write().remove(topic);
                return Err(no_route());
            }
            Err(e) => return Err(e),
        };
        let Some(route) = TopicRoute::provisional(topic.clone(), &auto_route) else {
            self.inner.provisional.write().remove(topic);
            return Err(no_route());
        };
        let route = Arc::new(route);
        let brokers: Vec<String> = route.masters().map(|(n, _)| n.to_string()).collect();
        let known = self
            .inner
            .provisional
            .write()
            .insert(topic.clone(), route.clone())
            .is_some();
        if !known {
            info!(%topic, ?brokers, "topic has no route yet; sending to the brokers that create topics on first send");
        }
        Ok(route)
    }

    /// Refresh step for provisional routes: the real route once the
    /// NameServers have it, else a provisional one rebuilt from the cached
    /// auto-create route (dropped if that is gone).
    pub(super) async fn refresh_provisional_routes(&self) {
        let topics: Vec<TopicName> = self.inner.provisional.read().keys().cloned().collect();
        for topic in topics {
            match self.refresh_route(&topic).await {
                Ok(_) => debug!(%topic, "created topic now has its own route"),
                Err(ClientError::NoRoute(_)) => {
                    if let Err(e) = self.provisional_route(&topic, false).await {
                        debug!(%topic, error = %e, "provisional route dropped");
                    }
                }
                Err(e) => {
                    debug!(%topic, error = %e, "route refresh failed; keeping the provisional route")
                }
            }
        }
    }
}
