//! Operations: runtime figures, the broker-wide write permission, topic
//! and consumption statistics, and resetting a group's offsets by time.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use ferromq_protocol::header::{
    BrokerRuntimeInfo, ConsumeStats, QueueProgress, QueueStats, ResetOffsetNotify, TopicStats,
};
use ferromq_protocol::{BrokerName, GroupName, QueueId, QueueOffset, TopicName};
use tracing::info;

use super::{Broker, ServiceError};

impl Broker {
    /// Version, identity, rates and store figures (`brokerStatus`,
    /// `clusterList`).
    pub(crate) fn runtime_info(&self) -> BrokerRuntimeInfo {
        let c = &self.config;
        let st = self.store.stats();
        let (put_tps, get_tps) = self.stats.tps();
        BrokerRuntimeInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            cluster: c.cluster.clone(),
            broker_name: c.broker_name.clone(),
            broker_id: self.broker_id(),
            addr: self.endpoint.addr.clone(),
            uptime_ms: self.stats.uptime().as_millis() as u64,
            put_tps,
            get_tps,
            put_total: st.messages,
            get_total: self.stats.gets(),
            commit_log_min_offset: self.store.commit_log_min_offset().get(),
            commit_log_max_offset: st.written_offset,
            disk_usage: self.store.disk_usage(),
            flush_mode: self.store.config().flush.to_string(),
            topics: self.topics.all().len() as u32,
            perm: self.state.perm(),
            auto_create_topic: c.auto_create_topic,
            store_poisoned: st.poisoned,
            direct_io: st.direct_io,
            log_cache_hits: st.cache_hits,
            log_cache_misses: st.cache_misses,
            role: self.role().name().into(),
            epoch: crate::ha::master::current_epoch(&self.store),
            replication: match c.ha.replication {
                crate::config::ReplicationMode::Sync => "sync".into(),
                crate::config::ReplicationMode::Async => "async".into(),
            },
            in_sync_replicas: self.replicas.in_sync(),
            min_in_sync_replicas: self.replicas.min_in_sync(),
            ha_addr: self.endpoint.ha_addr.clone(),
            fenced: self.state.is_fenced(),
        }
    }

    /// Sets or clears the broker-wide write permission (`wipeWritePerm`,
    /// `addWritePerm`), durably, and re-registers at once so routes change
    /// now. Returns the number of topics on the broker.
    ///
    /// # Errors
    /// `InvalidArgument` when `name` is not this broker; the state file
    /// cannot be written.
    pub(crate) fn set_writable(
        &self,
        name: &BrokerName,
        writable: bool,
        peer: SocketAddr,
    ) -> Result<u32, ServiceError> {
        if *name != self.config.broker_name {
            return Err(ServiceError::InvalidArgument(format!(
                "this is broker {}, not {name}",
                self.config.broker_name
            )));
        }
        self.state
            .set_writable(writable)
            .map_err(|source| ServiceError::Io {
                context: "cannot persist the permission".into(),
                source,
            })?;
        info!(writable, %peer, "broker write permission changed");
        self.register_soon();
        Ok(self.topics.all().len() as u32)
    }

    /// Min and max offsets and last store time of every queue of a topic.
    ///
    /// # Errors
    /// `TopicNotExist`.
    pub(crate) fn topic_stats(&self, topic: &TopicName) -> Result<TopicStats, ServiceError> {
        let config = self.topic(topic)?;
        let store = &self.store;
        let queues = (0..config.read_queues.max(config.write_queues))
            .map(QueueId::new)
            .map(|q| QueueStats {
                queue_id: q,
                min_offset: store.min_offset(topic, q),
                max_offset: store.max_offset(topic, q),
                last_update_ms: store.last_store_timestamp(topic, q),
            })
            .collect();
        Ok(TopicStats { queues })
    }

    /// A group's committed offsets beside each queue's max offset; for one
    /// topic, also the queues the group has not committed on yet.
    pub(crate) fn consume_stats(
        &self,
        group: &GroupName,
        topic: Option<&TopicName>,
    ) -> ConsumeStats {
        let committed = self.offsets.group_offsets(group, topic);
        let mut seen = BTreeSet::new();
        let mut queues: Vec<QueueProgress> = committed
            .into_iter()
            .map(|(topic, queue_id, offset)| {
                seen.insert((topic.clone(), queue_id));
                QueueProgress {
                    broker_offset: self.store.max_offset(&topic, queue_id),
                    topic,
                    queue_id,
                    consumer_offset: Some(offset),
                }
            })
            .collect();
        if let Some(topic) = topic {
            if let Some(config) = self.topics.get(topic) {
                for q in (0..config.read_queues).map(QueueId::new) {
                    if !seen.contains(&(topic.clone(), q)) {
                        queues.push(QueueProgress {
                            topic: topic.clone(),
                            queue_id: q,
                            broker_offset: self.store.max_offset(topic, q),
                            consumer_offset: None,
                        });
                    }
                }
            }
        }
        queues.sort_by(|a, b| (&a.topic, a.queue_id).cmp(&(&b.topic, b.queue_id)));
        ConsumeStats { queues }
    }

    /// Moves a group's committed offsets on a topic to the first message
    /// stored at or after a time, and tells its live members. Returns the
    /// new offset of every queue.
    ///
    /// # Errors
    /// `TopicNotExist`; `NoPermission` on a slave.
    pub(crate) async fn reset_offsets(
        &self,
        group: &GroupName,
        topic: &TopicName,
        timestamp_ms: u64,
        peer: SocketAddr,
    ) -> Result<Vec<(QueueId, QueueOffset)>, ServiceError> {
        self.require_master("reset offsets")?;
        let config = self.topic(topic)?;
        // A binary search per queue, each probe a pread: off the runtime.
        let store = self.store.clone();
        let t = topic.clone();
        let offsets = tokio::task::spawn_blocking(move || {
            (0..config.read_queues)
                .map(QueueId::new)
                .map(|q| (q, store.offset_by_timestamp(&t, q, timestamp_ms)))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|source| ServiceError::Task {
            what: "search",
            source,
        })?;
        for (q, o) in &offsets {
            self.offsets.commit(group, topic, *q, *o);
        }
        let reached = self.groups.notify_reset(&ResetOffsetNotify {
            group: group.clone(),
            topic: topic.clone(),
            offsets: offsets.clone(),
        });
        info!(%group, %topic, timestamp_ms, queues = offsets.len(), members_told = reached,
              %peer, "consumer offsets reset by time");
        Ok(offsets)
    }
}
