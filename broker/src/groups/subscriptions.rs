//! Subscription groups: per-group settings (max reconsume times, broadcast,
//! consume enabled), persisted in `config/subscriptionGroups.json`. A group
//! is created with defaults on its first heartbeat, or by `updateSubGroup`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferromq_protocol::header::SubscriptionGroupConfig;
use ferromq_protocol::GroupName;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::persist;

/// Highest `retry_max_times` a group may set (RocketMQ's delay table
/// clamps every retry past the 18th to 2 h, so 64 already means days).
pub const MAX_RETRY_MAX_TIMES: u32 = 64;
/// Most subscription groups a broker keeps (the file is rewritten whole on
/// every change).
pub const MAX_SUBSCRIPTION_GROUPS: usize = 10_000;

#[derive(Serialize, Deserialize, Default)]
struct GroupsFile {
    groups: Vec<SubscriptionGroupConfig>,
}

/// Why a subscription group could not be created or changed.
#[derive(Debug, Error)]
pub enum SubscriptionGroupError {
    /// `retry_max_times` above [`MAX_RETRY_MAX_TIMES`].
    #[error("retry max times {0} is over the maximum of {MAX_RETRY_MAX_TIMES}")]
    RetryMaxTimes(u32),
    /// The broker already keeps [`MAX_SUBSCRIPTION_GROUPS`] groups.
    #[error("this broker already has {MAX_SUBSCRIPTION_GROUPS} subscription groups")]
    TooMany,
    /// The groups file could not be written (memory is rolled back).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The broker's subscription groups.
pub struct SubscriptionGroupManager {
    path: PathBuf,
    /// Group → config. Writers persist while holding the lock so the file
    /// always matches memory; never held across an await.
    groups: RwLock<BTreeMap<GroupName, SubscriptionGroupConfig>>,
}

impl SubscriptionGroupManager {
    /// Loads the groups file under `config_dir`.
    ///
    /// # Errors
    /// An unreadable or corrupt file.
    pub fn load(config_dir: PathBuf) -> std::io::Result<Self> {
        let path = config_dir.join("subscriptionGroups.json");
        let file: GroupsFile = persist::read_json(&path)?.unwrap_or_default();
        let groups = file
            .groups
            .into_iter()
            .map(|g| (g.group.clone(), g))
            .collect();
        Ok(Self {
            path,
            groups: RwLock::new(groups),
        })
    }

    /// A group's config, if it exists.
    pub fn get(&self, group: &GroupName) -> Option<SubscriptionGroupConfig> {
        self.groups.read().get(group).cloned()
    }

    /// A group's config, or the defaults for a group never seen.
    pub fn get_or_default(&self, group: &GroupName) -> SubscriptionGroupConfig {
        self.get(group)
            .unwrap_or_else(|| SubscriptionGroupConfig::new(group.clone()))
    }

    /// Every group's config.
    pub fn all(&self) -> Vec<SubscriptionGroupConfig> {
        self.groups.read().values().cloned().collect()
    }

    /// Creates the group with defaults unless it exists; returns whether it
    /// was created.
    ///
    /// # Errors
    /// The cap is reached, or the file cannot be written (memory is rolled
    /// back).
    pub fn ensure(&self, group: &GroupName) -> Result<bool, SubscriptionGroupError> {
        if self.groups.read().contains_key(group) {
            return Ok(false);
        }
        let mut groups = self.groups.write();
        if groups.contains_key(group) {
            return Ok(false);
        }
        self.insert_locked(&mut groups, SubscriptionGroupConfig::new(group.clone()))?;
        Ok(true)
    }

    /// Creates or replaces a group's config.
    ///
    /// # Errors
    /// A bad setting or the cap is reached (nothing changes), or the I/O
    /// error of persisting (memory is rolled back).
    pub fn upsert(&self, config: SubscriptionGroupConfig) -> Result<(), SubscriptionGroupError> {
        if config.retry_max_times > MAX_RETRY_MAX_TIMES {
            return Err(SubscriptionGroupError::RetryMaxTimes(
                config.retry_max_times,
            ));
        }
        let mut groups = self.groups.write();
        self.insert_locked(&mut groups, config)
    }

    fn insert_locked(
        &self,
        groups: &mut BTreeMap<GroupName, SubscriptionGroupConfig>,
        config: SubscriptionGroupConfig,
    ) -> Result<(), SubscriptionGroupError> {
        let name = config.group.clone();
        if !groups.contains_key(&name) && groups.len() >= MAX_SUBSCRIPTION_GROUPS {
            return Err(SubscriptionGroupError::TooMany);
        }
        let old = groups.insert(name.clone(), config);
        if let Err(e) = self.save(groups) {
            match old {
                Some(o) => groups.insert(name, o),
                None => groups.remove(&name),
            };
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes a group; returns whether it existed.
    ///
    /// # Errors
    /// The I/O error of persisting (memory is rolled back).
    pub fn remove(&self, group: &GroupName) -> std::io::Result<bool> {
        let mut groups = self.groups.write();
        let Some(old) = groups.remove(group) else {
            return Ok(false);
        };
        if let Err(e) = self.save(&groups) {
            groups.insert(group.clone(), old);
            return Err(e);
        }
        Ok(true)
    }

    fn save(&self, groups: &BTreeMap<GroupName, SubscriptionGroupConfig>) -> std::io::Result<()> {
        persist::write_json(
            &self.path,
            &GroupsFile {
                groups: groups.values().cloned().collect(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_validates_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let m = SubscriptionGroupManager::load(dir.path().to_path_buf()).unwrap();
        let g = GroupName::new("g").unwrap();
        assert_eq!(m.get_or_default(&g).retry_max_times, 16);
        assert!(m.get(&g).is_none());
        assert!(m.ensure(&g).unwrap());
        assert!(!m.ensure(&g).unwrap());
        let mut c = m.get(&g).unwrap();
        c.retry_max_times = 65;
        assert!(matches!(
            m.upsert(c.clone()),
            Err(SubscriptionGroupError::RetryMaxTimes(65))
        ));
        c.retry_max_times = 3;
        c.consume_broadcast = true;
        m.upsert(c).unwrap();
        let m2 = SubscriptionGroupManager::load(dir.path().to_path_buf()).unwrap();
        let c2 = m2.get(&g).unwrap();
        assert_eq!((c2.retry_max_times, c2.consume_broadcast), (3, true));
        assert_eq!(m2.all().len(), 1);
        assert!(m2.remove(&g).unwrap());
        assert!(!m2.remove(&g).unwrap());
        assert!(SubscriptionGroupManager::load(dir.path().to_path_buf())
            .unwrap()
            .all()
            .is_empty());
    }
}
