//! Topics: lookups, creation on first send, internal topics, operator
//! updates, deletion across every part of the broker, and the topic list
//! the NameServers route.

use std::net::SocketAddr;

use ferromq_protocol::header::{
    TopicConfig, AUTO_CREATE_QUEUES, AUTO_CREATE_TOPIC, PERM_READ_WRITE,
};
use ferromq_protocol::TopicName;
use tracing::info;

use super::{Broker, ServiceError};

impl Broker {
    /// The topic's config.
    ///
    /// # Errors
    /// `TopicNotExist`.
    pub(super) fn topic(&self, topic: &TopicName) -> Result<TopicConfig, ServiceError> {
        self.topics.get(topic).ok_or_else(|| self.no_topic(topic))
    }

    /// For a send: the topic's config, creating the topic first when it is
    /// unknown and this broker creates topics on first send.
    pub(super) fn topic_for_send(&self, topic: &TopicName) -> Result<TopicConfig, ServiceError> {
        if let Some(c) = self.topics.get(topic) {
            return Ok(c);
        }
        if !self.config.auto_create_topic || topic.as_str() == AUTO_CREATE_TOPIC {
            return Err(self.no_topic(topic));
        }
        let config = TopicConfig {
            name: topic.clone(),
            read_queues: AUTO_CREATE_QUEUES,
            write_queues: AUTO_CREATE_QUEUES,
            perm: PERM_READ_WRITE,
        };
        self.topics
            .upsert(config.clone())
            .map_err(|e| ServiceError::topic_change(format!("cannot create topic {topic}"), e))?;
        info!(%topic, queues = AUTO_CREATE_QUEUES, "topic created on first send");
        self.register_soon();
        // A concurrent creator may have won with the same config; read back.
        Ok(self.topics.get(topic).unwrap_or(config))
    }

    /// An internal topic (retry, dead-letter): its config, creating it with
    /// one read-write queue when it does not exist. The dead-letter topic
    /// is readable too (RocketMQ makes it write-only), so operators and
    /// tests can read what was parked.
    ///
    /// # Errors
    /// The topics file cannot be written.
    pub(super) fn internal_topic(&self, topic: &TopicName) -> Result<TopicConfig, ServiceError> {
        if let Some(c) = self.topics.get(topic) {
            return Ok(c);
        }
        let config = TopicConfig {
            name: topic.clone(),
            read_queues: 1,
            write_queues: 1,
            perm: PERM_READ_WRITE,
        };
        self.topics
            .upsert(config.clone())
            .map_err(|e| ServiceError::topic_change(format!("cannot create topic {topic}"), e))?;
        info!(%topic, "internal topic created");
        self.register_soon();
        Ok(self.topics.get(topic).unwrap_or(config))
    }

    /// Creates or replaces a topic (`updateTopic`).
    ///
    /// # Errors
    /// `InvalidArgument` for bad queue counts or permissions; the topics
    /// file cannot be written.
    pub(crate) fn update_topic(
        &self,
        config: TopicConfig,
        peer: SocketAddr,
    ) -> Result<(), ServiceError> {
        self.require_master("create or update topics")?;
        let name = config.name.clone();
        self.topics
            .upsert(config)
            .map_err(|e| ServiceError::topic_change(format!("cannot update topic {name}"), e))?;
        info!(topic = %name, %peer, "topic created or updated");
        self.register_soon();
        Ok(())
    }

    /// Deletes a topic everywhere: its config, its queues in the store,
    /// every group's offsets on it, and its held pulls (answered now).
    ///
    /// # Errors
    /// The topics file cannot be written, or the store fails to delete the
    /// queues (the config is gone then; deleting again finishes the job).
    pub(crate) async fn delete_topic(
        &self,
        topic: &TopicName,
        peer: SocketAddr,
    ) -> Result<(), ServiceError> {
        self.require_master("delete topics")?;
        let existed = self
            .topics
            .remove(topic)
            .map_err(|source| ServiceError::Io {
                context: format!("cannot delete topic {topic}"),
                source,
            })?;
        // Deleting pauses the writer and removes files: keep it off the runtime.
        let store = self.store.clone();
        let t = topic.clone();
        tokio::task::spawn_blocking(move || store.delete_topic(&t))
            .await
            .map_err(|source| ServiceError::Task {
                what: "delete",
                source,
            })?
            .map_err(|source| ServiceError::Store {
                context: format!("cannot delete queues of {topic}"),
                source,
            })?;
        self.offsets.remove_topic(topic);
        self.long_poll.remove_topic(topic);
        info!(%topic, existed, %peer, "topic deleted");
        self.register_soon();
        Ok(())
    }

    /// The topics as NameServers should route them: with the broker's own
    /// permission applied (a wiped broker is not writable for any topic),
    /// plus `TBW102` when the broker creates topics on first send.
    pub(crate) fn registered_topics(&self) -> Vec<TopicConfig> {
        let perm = self.state.perm();
        let mut topics: Vec<TopicConfig> = self
            .topics
            .all()
            .into_iter()
            .map(|mut t| {
                t.perm &= perm;
                t
            })
            .collect();
        if self.config.auto_create_topic {
            if let Ok(name) = TopicName::new(AUTO_CREATE_TOPIC) {
                topics.push(TopicConfig {
                    name,
                    read_queues: AUTO_CREATE_QUEUES,
                    write_queues: AUTO_CREATE_QUEUES,
                    perm: PERM_READ_WRITE & perm,
                });
            }
        }
        topics
    }

    fn no_topic(&self, topic: &TopicName) -> ServiceError {
        ServiceError::TopicNotExist {
            topic: topic.clone(),
            broker: self.config.broker_name.clone(),
        }
    }
}
