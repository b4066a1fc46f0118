//! Clusters and their brokers, as the NameServers see them.

use ferromq_protocol::header::{ClusterInfo, GetClusterInfoRequest};
use ferromq_protocol::{BrokerName, ClusterName};

use super::AdminClient;
use crate::error::{ClientError, Result};

impl AdminClient {
    /// Every cluster, broker and live broker address a NameServer knows.
    ///
    /// # Errors
    /// NameServer errors.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        self.client.namesrv_call(&GetClusterInfoRequest {}).await
    }

    /// The master address of every broker name in `cluster`.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] if the cluster is unknown or has no
    /// live master; NameServer errors.
    pub async fn cluster_masters(
        &self,
        cluster: &ClusterName,
    ) -> Result<Vec<(BrokerName, String)>> {
        let info = self.cluster_info().await?;
        let names = info.clusters.get(cluster).ok_or_else(|| {
            let known: Vec<&str> = info.clusters.keys().map(ClusterName::as_str).collect();
            ClientError::InvalidArgument(format!(
                "cluster {cluster} is unknown to the NameServer (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        let masters: Vec<(BrokerName, String)> = names
            .iter()
            .filter_map(|n| {
                let addr = info.brokers.get(n)?.master_addr()?;
                Some((n.clone(), addr.to_string()))
            })
            .collect();
        if masters.is_empty() {
            return Err(ClientError::InvalidArgument(format!(
                "cluster {cluster} has no live master broker"
            )));
        }
        Ok(masters)
    }

    /// The master address of every broker name the NameServer knows.
    ///
    /// # Errors
    /// NameServer errors.
    pub async fn all_masters(&self) -> Result<Vec<(BrokerName, String)>> {
        let info = self.cluster_info().await?;
        Ok(info
            .brokers
            .iter()
            .filter_map(|(n, b)| Some((n.clone(), b.master_addr()?.to_string())))
            .collect())
    }
}
