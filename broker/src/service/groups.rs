//! Consumer groups: heartbeats and membership, subscription groups,
//! orderly-consumption queue locks and committed offsets.

use std::net::SocketAddr;
use std::time::Instant;

use ferromq_protocol::header::{
    retry_topic, ConsumerConnections, HeartbeatRequest, MessageModel, OffsetEntry, QueueRef,
    SubscriptionGroupConfig, UnregisterClientRequest,
};
use ferromq_protocol::{GroupName, QueueId, QueueOffset, TopicName};
use ferromq_remoting::PeerHandle;
use tracing::{info, warn};

use super::{Broker, ServiceError};
use crate::groups::RegisterError;

/// Longest client id accepted (`ip@pid@n` is far shorter).
const MAX_CLIENT_ID_LEN: usize = 256;
/// Longest client version string accepted.
const MAX_VERSION_LEN: usize = 64;

impl Broker {
    /// A client's consumer groups and subscriptions, every 30 s: joins or
    /// refreshes its membership (members are told when a group changes),
    /// creates subscription groups first seen, and — as in RocketMQ — a
    /// clustering group's retry topic, so its consumers can route
    /// `%RETRY%<group>` before any message was sent back.
    ///
    /// # Errors
    /// `InvalidArgument` (client id or version), `Busy` (a membership cap;
    /// groups registered before it stay).
    pub(crate) fn heartbeat(
        &self,
        req: &HeartbeatRequest,
        conn: &PeerHandle,
    ) -> Result<(), ServiceError> {
        check_client_id(&req.client_id)?;
        if req.version.len() > MAX_VERSION_LEN {
            return Err(ServiceError::InvalidArgument(format!(
                "client version longer than {MAX_VERSION_LEN} bytes"
            )));
        }
        self.groups
            .heartbeat(req, conn, Instant::now())
            .map_err(|e| {
                ServiceError::Busy(match e {
                    RegisterError::TooManyGroups => "too many consumer groups on this broker",
                    RegisterError::GroupFull => "too many clients in this consumer group",
                })
            })?;
        // A slave takes its topics from the master, retry topics included.
        let creates = !self.is_slave();
        for c in req
            .consumers
            .iter()
            .filter(|c| creates && c.model == MessageModel::Clustering)
        {
            if let Some(topic) = retry_topic(&c.group) {
                if let Err(e) = self.internal_topic(&topic) {
                    warn!(group = %c.group, error = %e, "cannot create the retry topic");
                }
            }
        }
        Ok(())
    }

    /// A client leaves a consumer group, or every group when it names none
    /// (a client shutting down). A producer-only unregistration leaves the
    /// consumer groups alone.
    ///
    /// # Errors
    /// `InvalidArgument` (client id).
    pub(crate) fn unregister_client(
        &self,
        req: &UnregisterClientRequest,
    ) -> Result<(), ServiceError> {
        check_client_id(&req.client_id)?;
        if req.consumer_group.is_some() || req.producer_group.is_none() {
            self.groups
                .unregister(&req.client_id, req.consumer_group.as_ref());
        }
        Ok(())
    }

    /// The group's live client ids, sorted.
    pub(crate) fn consumer_ids(&self, group: &GroupName) -> Vec<String> {
        self.groups.consumers().client_ids(group)
    }

    /// The group's clients, their addresses and subscriptions (empty when
    /// nobody is connected).
    pub(crate) fn consumer_connections(&self, group: &GroupName) -> ConsumerConnections {
        self.groups.consumers().connections(group, Instant::now())
    }

    /// Takes or renews queue locks for orderly consumption; returns the
    /// queues the client now holds.
    ///
    /// # Errors
    /// `InvalidArgument` (client id).
    pub(crate) fn lock_queues(
        &self,
        group: &GroupName,
        client_id: &str,
        queues: &[QueueRef],
    ) -> Result<Vec<QueueRef>, ServiceError> {
        check_client_id(client_id)?;
        Ok(self
            .groups
            .locks()
            .lock_batch(group, client_id, queues, Instant::now()))
    }

    /// Releases the queue locks the client holds among `queues`.
    ///
    /// # Errors
    /// `InvalidArgument` (client id).
    pub(crate) fn unlock_queues(
        &self,
        group: &GroupName,
        client_id: &str,
        queues: &[QueueRef],
    ) -> Result<(), ServiceError> {
        check_client_id(client_id)?;
        self.groups.locks().unlock_batch(group, client_id, queues);
        Ok(())
    }

    /// Creates or changes a group's settings.
    ///
    /// # Errors
    /// `InvalidArgument` (a bad setting, or too many groups), the groups
    /// file cannot be written.
    pub(crate) fn update_subscription_group(
        &self,
        config: SubscriptionGroupConfig,
        peer: SocketAddr,
    ) -> Result<(), ServiceError> {
        self.require_master("change subscription groups")?;
        let group = config.group.clone();
        let summary = format!(
            "retry_max_times={} consume_broadcast={} consume_enable={}",
            config.retry_max_times, config.consume_broadcast, config.consume_enable
        );
        self.groups.subscriptions().upsert(config).map_err(|e| {
            ServiceError::group_change(format!("cannot update subscription group {group}"), e)
        })?;
        info!(%group, settings = %summary, %peer, "subscription group created or updated");
        Ok(())
    }

    /// Drops a group's settings, committed offsets and queue locks. Its
    /// retry and dead-letter topics stay (they may hold messages an
    /// operator still wants).
    ///
    /// # Errors
    /// The groups file cannot be written.
    pub(crate) fn delete_subscription_group(
        &self,
        group: &GroupName,
        peer: SocketAddr,
    ) -> Result<(), ServiceError> {
        self.require_master("delete subscription groups")?;
        let existed = self
            .groups
            .subscriptions()
            .remove(group)
            .map_err(|source| ServiceError::Io {
                context: format!("cannot delete subscription group {group}"),
                source,
            })?;
        let had_offsets = self.offsets.remove_group(group);
        self.groups.forget_group(group);
        info!(%group, existed, had_offsets, %peer, "subscription group deleted");
        Ok(())
    }

    /// The group's committed offset of a queue, if any.
    pub(crate) fn committed_offset(
        &self,
        group: &GroupName,
        topic: &TopicName,
        queue_id: QueueId,
    ) -> Option<QueueOffset> {
        self.offsets.query(group, topic, queue_id)
    }

    /// Commits a group's positions; on a master none is committed unless
    /// every topic exists. On a slave they are also kept for the master.
    ///
    /// # Errors
    /// `TopicNotExist`.
    pub(crate) fn commit_offsets(
        &self,
        group: &GroupName,
        offsets: &[OffsetEntry],
    ) -> Result<(), ServiceError> {
        // A slave may not have taken over a topic yet (a retry topic the
        // master created just before it went away): it keeps the offset
        // anyway, and its master judges it when they meet again.
        let on_slave = self.is_slave();
        if !on_slave {
            for e in offsets {
                self.topic(&e.topic)?;
            }
        }
        for e in offsets {
            self.offsets.commit(group, &e.topic, e.queue_id, e.offset);
            if on_slave {
                self.slave_commits
                    .record(group, &e.topic, e.queue_id, e.offset);
            }
        }
        Ok(())
    }
}

/// A client id must be present and bounded: it is kept in memory per group.
fn check_client_id(id: &str) -> Result<(), ServiceError> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN {
        return Err(ServiceError::InvalidArgument(format!(
            "client id must be 1 to {MAX_CLIENT_ID_LEN} bytes"
        )));
    }
    Ok(())
}
