//! Replication, as the service offers it: the HA port's handshake and
//! fetch, the in-sync sweep, and the wait of a sync send.

use std::time::Instant;

use bytes::Bytes;
use ferromq_protocol::header::{
    HaFetch, HaFetchResponse, HaHandshake, HaHandshakeResponse, HaStatusResponse,
};
use ferromq_store::StoreRole;

use super::{Broker, ServiceError};
use crate::config::ReplicationMode;
use crate::ha::master::{self, HaError};
use crate::ha::replicas::ReplicationError;

impl Broker {
    /// A slave's handshake on the HA port.
    ///
    /// # Errors
    /// [`HaError`] when the slave is refused.
    pub(crate) fn ha_handshake(
        &self,
        h: &HaHandshake,
        conn: ferromq_remoting::PeerHandle,
    ) -> Result<HaHandshakeResponse, HaError> {
        self.serving_slaves()?;
        master::handshake(&self.config, &self.store, &self.replicas, h, Some(conn))
    }

    /// A slave's fetch on the HA port, held while there is nothing new.
    ///
    /// # Errors
    /// [`HaError`] when the fetch is refused or the log cannot be read.
    pub(crate) async fn ha_fetch(&self, f: &HaFetch) -> Result<(HaFetchResponse, Bytes), HaError> {
        self.serving_slaves()?;
        master::fetch(&self.store, &self.replicas, self.long_poll.arrivals(), f).await
    }

    /// Only a master serves slaves (a fenced one too: its slaves catch up
    /// while it takes no sends). A demoted master's slaves are refused and
    /// look for the new one.
    ///
    /// # Errors
    /// [`HaError::NotMaster`].
    pub(crate) fn serving_slaves(&self) -> Result<(), HaError> {
        let role = self.state.role();
        if role.is_master() {
            Ok(())
        } else {
            Err(HaError::NotMaster(role.broker_id))
        }
    }

    /// The master's view of its slaves (`mqadmin haStatus`).
    pub(crate) fn ha_status(&self) -> HaStatusResponse {
        let end = self.store.flushed_end().get();
        HaStatusResponse {
            epoch: master::current_epoch(&self.store),
            log_end: end,
            min_in_sync_replicas: self.replicas.min_in_sync(),
            slaves: self.replicas.status(end, Instant::now()),
        }
    }

    /// Takes silent slaves out of the in-sync set.
    pub(crate) fn sweep_replicas(&self) {
        self.replicas.sweep(Instant::now());
    }

    /// Whether sends wait for slaves.
    fn sync_replication(&self) -> bool {
        self.config.ha.replication == ReplicationMode::Sync && self.replicas.min_in_sync() > 1
    }

    /// Before a sync send is written: refuses it when too few replicas are
    /// in sync, so nothing is stored that could not be replicated.
    ///
    /// # Errors
    /// [`ServiceError::SlaveNotAvailable`]; `NoPermission` on a slave.
    pub(super) fn check_replicas(&self) -> Result<(), ServiceError> {
        if self.state.is_fenced() {
            return Err(ServiceError::NoPermission(format!(
                "broker {} is fenced: its role is being handed to a slave; send to the new master",
                self.config.broker_name
            )));
        }
        if self.store.role() == StoreRole::Slave {
            return Err(ServiceError::NoPermission(format!(
                "broker {} id {} is a slave: send to its master",
                self.config.broker_name,
                self.broker_id()
            )));
        }
        if !self.sync_replication() {
            return Ok(());
        }
        let (in_sync, needed) = (self.replicas.in_sync(), self.replicas.min_in_sync());
        if in_sync < needed {
            return Err(ServiceError::SlaveNotAvailable(format!(
                "{in_sync} of the required {needed} replicas are in sync (the master counted); not stored"
            )));
        }
        Ok(())
    }

    /// After a sync send is written and flushed: waits until enough
    /// in-sync replicas have every byte before `end`. `false`: stored on
    /// the master but not confirmed by them in time.
    pub(super) async fn wait_replicas(&self, end: u64) -> bool {
        if !self.sync_replication() {
            return true;
        }
        match self
            .replicas
            .wait_replicated(end, self.config.store.sync_flush_timeout)
            .await
        {
            Ok(()) => true,
            Err(
                e @ (ReplicationError::Timeout { .. } | ReplicationError::NotEnoughInSync { .. }),
            ) => {
                tracing::debug!(error = %e, end, "send not confirmed by the replicas");
                false
            }
        }
    }
}
