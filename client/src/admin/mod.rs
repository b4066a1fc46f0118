//! [`AdminClient`]: topic, cluster and consumer-progress administration
//! and message lookups, the library side of `mqadmin`. Kept apart from
//! producers and consumers so that authentication can later be required
//! for exactly these calls.

mod broker;
mod cluster;
mod messages;
mod progress;
mod promote;
mod query;
mod topic;

pub use broker::PermChange;
pub use progress::{ConsumerProgress, QueueLag};
pub use promote::{PromoteOptions, Promotion};
pub use topic::BrokerTopicStatus;

use crate::error::Result;
use crate::MqClient;

/// Administers topics and reports on clusters and consumer groups. Cheap
/// to clone.
#[derive(Clone, Debug)]
pub struct AdminClient {
    client: MqClient,
}

impl AdminClient {
    /// An admin client sharing `client`'s connections and routes.
    pub fn new(client: MqClient) -> Self {
        Self { client }
    }

    /// An admin client for the NameServers in `addrs` (`"a:9876;b:9876"`).
    ///
    /// # Errors
    /// [`crate::ClientError::InvalidArgument`] for a malformed list.
    pub fn connect(addrs: &str) -> Result<Self> {
        Ok(Self::new(MqClient::connect(addrs)?))
    }

    /// The underlying client.
    pub fn client(&self) -> &MqClient {
        &self.client
    }
}

/// Runs `f` over `items` concurrently and returns the outputs in order.
async fn all<T, F, O>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> F) -> Vec<O>
where
    F: std::future::Future<Output = O>,
{
    futures::future::join_all(items.into_iter().map(f)).await
}
