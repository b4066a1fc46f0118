//! One broker at a time: its runtime figures, and wiping or restoring its
//! write permission (to drain it before maintenance).

use std::collections::BTreeMap;

use ferromq_protocol::header::{
    AddWritePermRequest, BrokerRuntimeInfo, GetBrokerRuntimeInfoRequest, GetClusterInfoRequest,
    WipeWritePermRequest,
};
use ferromq_protocol::BrokerName;
use tracing::info;

use super::{all, AdminClient};
use crate::error::{ClientError, Result};

/// The outcome of a permission change on one address of a broker name.
#[derive(Debug)]
pub struct PermChange {
    /// Broker id (0 = master).
    pub broker_id: u64,
    /// Address the request went to.
    pub addr: String,
    /// Topics whose routes changed, or why the broker did not answer.
    pub result: Result<u32>,
}

/// Which permission change to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Perm {
    Wipe,
    Add,
}

impl AdminClient {
    /// The runtime figures of the broker at `addr` (version, uptime, TPS,
    /// store offsets, permission, ...).
    ///
    /// # Errors
    /// Transport errors, or the broker's error.
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<BrokerRuntimeInfo> {
        self.client
            .call_header(addr, &GetBrokerRuntimeInfoRequest {})
            .await
    }

    /// A master's view of its slaves: each one's offset, lag and whether it
    /// is in sync (`mqadmin haStatus`).
    ///
    /// # Errors
    /// Transport errors, or the broker's error.
    pub async fn ha_status(
        &self,
        addr: &str,
    ) -> Result<ferromq_protocol::header::HaStatusResponse> {
        self.client
            .call_header(addr, &ferromq_protocol::header::HaStatusRequest {})
            .await
    }

    /// Every address of `broker` (id → address) that any NameServer knows:
    /// all NameServers are asked and their answers merged, since one that
    /// restarted a moment ago may not know every broker yet.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] if no NameServer knows the broker
    /// name; [`ClientError::NameServerUnavailable`] if none answered.
    pub async fn broker_addrs(&self, broker: &BrokerName) -> Result<BTreeMap<u64, String>> {
        let answers = self
            .client
            .namesrv_call_each(&GetClusterInfoRequest {})
            .await;
        let mut addrs = BTreeMap::new();
        let mut failures = Vec::new();
        let mut answered = false;
        for (namesrv, answer) in answers {
            match answer {
                Ok(info) => {
                    answered = true;
                    if let Some(data) = info.brokers.get(broker) {
                        for (id, addr) in &data.addrs {
                            addrs.entry(*id).or_insert_with(|| addr.clone());
                        }
                    }
                }
                Err(e) => failures.push(format!("{namesrv}: {e}")),
            }
        }
        if !answered {
            return Err(ClientError::NameServerUnavailable(failures.join("; ")));
        }
        if addrs.is_empty() {
            return Err(ClientError::InvalidArgument(format!(
                "broker {broker} is unknown to the NameServers (see mqadmin clusterList)"
            )));
        }
        Ok(addrs)
    }

    /// Wipes the write permission of every address of `broker` (master and
    /// slaves): producers stop choosing it once their routes are refreshed
    /// (a send that still reaches it is refused with `NoPermission` and
    /// retried elsewhere); consumers keep reading it. Each broker persists
    /// the change and re-registers with the NameServers at once.
    ///
    /// # Errors
    /// As [`Self::broker_addrs`]; each address's own outcome is in its
    /// [`PermChange`].
    pub async fn wipe_write_perm(&self, broker: &BrokerName) -> Result<Vec<PermChange>> {
        self.change_perm(broker, Perm::Wipe).await
    }

    /// Restores the write permission wiped by [`Self::wipe_write_perm`].
    ///
    /// # Errors
    /// As [`Self::wipe_write_perm`].
    pub async fn add_write_perm(&self, broker: &BrokerName) -> Result<Vec<PermChange>> {
        self.change_perm(broker, Perm::Add).await
    }

    async fn change_perm(&self, broker: &BrokerName, perm: Perm) -> Result<Vec<PermChange>> {
        let addrs = self.broker_addrs(broker).await?;
        let changes = all(addrs, |(broker_id, addr)| async move {
            let broker_name = broker.clone();
            let result = match perm {
                Perm::Wipe => {
                    let req = WipeWritePermRequest { broker_name };
                    self.client.call_header(&addr, &req).await
                }
                Perm::Add => {
                    let req = AddWritePermRequest { broker_name };
                    self.client.call_header(&addr, &req).await
                }
            };
            let result = result.map(|r| r.topics);
            if let Ok(topics) = &result {
                info!(%broker, broker_id, %addr, topics, ?perm, "write permission changed");
            }
            PermChange {
                broker_id,
                addr,
                result,
            }
        })
        .await;
        Ok(changes)
    }
}
