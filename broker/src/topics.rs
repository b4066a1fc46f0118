//! Topic configurations of this broker, persisted in `config/topics.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferromq_protocol::header::{TopicConfig, PERM_READ_WRITE};
use ferromq_protocol::TopicName;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::persist;

/// Most queues a topic may have on one broker.
pub const MAX_QUEUES: u32 = 1024;

#[derive(Serialize, Deserialize, Default)]
struct TopicsFile {
    topics: Vec<TopicConfig>,
}

/// Why a topic could not be created or changed.
#[derive(Debug, Error)]
pub enum TopicConfigError {
    /// A read or write queue count outside `1..=MAX_QUEUES`.
    #[error("{what} queue count {count} is out of range 1..={MAX_QUEUES}")]
    QueueCount {
        /// `read` or `write`.
        what: &'static str,
        /// The count asked for.
        count: u32,
    },
    /// Permission bits other than read and write.
    #[error("permission {0} is invalid; use 2 (write), 4 (read) or 6 (read-write)")]
    Perm(u8),
    /// The topics file could not be written (memory is rolled back).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The broker's topics.
pub struct TopicManager {
    path: PathBuf,
    /// Topic name → config. Writers persist while holding the lock so the
    /// file always matches memory; never held across an await.
    topics: RwLock<BTreeMap<TopicName, TopicConfig>>,
}

impl TopicManager {
    /// Loads the topics file under `config_dir`.
    ///
    /// # Errors
    /// An unreadable or corrupt file.
    pub fn load(config_dir: PathBuf) -> std::io::Result<Self> {
        let path = config_dir.join("topics.json");
        let file: TopicsFile = persist::read_json(&path)?.unwrap_or_default();
        let topics = file
            .topics
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        Ok(Self {
            path,
            topics: RwLock::new(topics),
        })
    }

    /// A topic's config.
    pub fn get(&self, topic: &TopicName) -> Option<TopicConfig> {
        self.topics.read().get(topic).cloned()
    }

    /// Every topic's config.
    pub fn all(&self) -> Vec<TopicConfig> {
        self.topics.read().values().cloned().collect()
    }

    /// Creates or replaces a topic.
    ///
    /// # Errors
    /// Bad queue counts or permissions (nothing changes), or the I/O error
    /// of persisting (memory is rolled back).
    pub fn upsert(&self, config: TopicConfig) -> Result<(), TopicConfigError> {
        validate(&config)?;
        let mut topics = self.topics.write();
        let old = topics.insert(config.name.clone(), config.clone());
        if let Err(e) = self.save(&topics) {
            match old {
                Some(o) => topics.insert(config.name.clone(), o),
                None => topics.remove(&config.name),
            };
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes a topic; returns whether it existed.
    ///
    /// # Errors
    /// The I/O error of persisting (memory is rolled back).
    pub fn remove(&self, topic: &TopicName) -> std::io::Result<bool> {
        let mut topics = self.topics.write();
        let Some(old) = topics.remove(topic) else {
            return Ok(false);
        };
        if let Err(e) = self.save(&topics) {
            topics.insert(topic.clone(), old);
            return Err(e);
        }
        Ok(true)
    }

    fn save(&self, topics: &BTreeMap<TopicName, TopicConfig>) -> std::io::Result<()> {
        persist::write_json(
            &self.path,
            &TopicsFile {
                topics: topics.values().cloned().collect(),
            },
        )
    }
}

/// A default read-write config with `queues` queues.
#[cfg(test)]
fn default_config(name: TopicName, queues: u32) -> TopicConfig {
    TopicConfig {
        name,
        read_queues: queues,
        write_queues: queues,
        perm: PERM_READ_WRITE,
    }
}

fn validate(c: &TopicConfig) -> Result<(), TopicConfigError> {
    for (what, count) in [("read", c.read_queues), ("write", c.write_queues)] {
        if count == 0 || count > MAX_QUEUES {
            return Err(TopicConfigError::QueueCount { what, count });
        }
    }
    if c.perm & !PERM_READ_WRITE != 0 {
        return Err(TopicConfigError::Perm(c.perm));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicManager::load(dir.path().to_path_buf()).unwrap();
        let t = TopicName::new("T").unwrap();
        m.upsert(default_config(t.clone(), 4)).unwrap();
        assert!(matches!(
            m.upsert(default_config(TopicName::new("Z").unwrap(), 0)),
            Err(TopicConfigError::QueueCount { count: 0, .. })
        ));
        assert!(matches!(
            m.upsert(default_config(TopicName::new("Z").unwrap(), 5000)),
            Err(TopicConfigError::QueueCount { count: 5000, .. })
        ));
        let m2 = TopicManager::load(dir.path().to_path_buf()).unwrap();
        assert_eq!(m2.all().len(), 1);
        assert_eq!(m2.get(&t).unwrap().write_queues, 4);
        assert!(m2.remove(&t).unwrap());
        assert!(TopicManager::load(dir.path().to_path_buf())
            .unwrap()
            .all()
            .is_empty());
    }
}
