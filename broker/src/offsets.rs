//! Consumer offsets: the next queue offset each group will consume, per
//! (topic, queue). Kept in memory, persisted to `config/consumerOffsets.json`
//! every few seconds and at shutdown (as RocketMQ does every 5 s).

use crate::persist::DirtyJson;
use std::collections::BTreeMap;
use std::path::PathBuf;

use ferromq_protocol::{GroupName, QueueId, QueueOffset, TopicName};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

type Key = (TopicName, QueueId);

#[derive(Serialize, Deserialize)]
struct Entry {
    group: GroupName,
    topic: TopicName,
    queue_id: QueueId,
    offset: QueueOffset,
}

#[derive(Serialize, Deserialize, Default)]
struct OffsetsFile {
    offsets: Vec<Entry>,
}

/// Committed offsets of every group.
pub struct OffsetManager {
    /// The file, written when changed.
    file: DirtyJson,
    /// Group → (topic, queue) → offset. Never held across an await.
    offsets: RwLock<BTreeMap<GroupName, BTreeMap<Key, QueueOffset>>>,
}

impl OffsetManager {
    /// Loads the offsets file under `config_dir`.
    ///
    /// # Errors
    /// An unreadable or corrupt file.
    pub fn load(config_dir: PathBuf) -> std::io::Result<Self> {
        let path = config_dir.join("consumerOffsets.json");
        let file: OffsetsFile = crate::persist::read_json(&path)?.unwrap_or_default();
        let mut offsets: BTreeMap<GroupName, BTreeMap<Key, QueueOffset>> = BTreeMap::new();
        for e in file.offsets {
            offsets
                .entry(e.group)
                .or_default()
                .insert((e.topic, e.queue_id), e.offset);
        }
        Ok(Self {
            file: DirtyJson::new(path),
            offsets: RwLock::new(offsets),
        })
    }

    /// Records a commit.
    pub fn commit(
        &self,
        group: &GroupName,
        topic: &TopicName,
        queue_id: QueueId,
        offset: QueueOffset,
    ) {
        self.offsets
            .write()
            .entry(group.clone())
            .or_default()
            .insert((topic.clone(), queue_id), offset);
        self.file.mark();
    }

    /// The committed offset, if any.
    pub fn query(
        &self,
        group: &GroupName,
        topic: &TopicName,
        queue_id: QueueId,
    ) -> Option<QueueOffset> {
        self.offsets
            .read()
            .get(group)
            .and_then(|m| m.get(&(topic.clone(), queue_id)).copied())
    }

    /// Every (topic, queue, offset) of a group, optionally for one topic.
    pub fn group_offsets(
        &self,
        group: &GroupName,
        topic: Option<&TopicName>,
    ) -> Vec<(TopicName, QueueId, QueueOffset)> {
        self.offsets
            .read()
            .get(group)
            .map(|m| {
                m.iter()
                    .filter(|((t, _), _)| topic.is_none_or(|want| want == t))
                    .map(|((t, q), o)| (t.clone(), *q, *o))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every committed offset: (group, topic, queue, offset).
    pub fn all(&self) -> Vec<(GroupName, TopicName, QueueId, QueueOffset)> {
        self.offsets
            .read()
            .iter()
            .flat_map(|(g, m)| {
                m.iter()
                    .map(move |((t, q), o)| (g.clone(), t.clone(), *q, *o))
            })
            .collect()
    }

    /// Forgets every group's offsets on a deleted topic.
    pub fn remove_topic(&self, topic: &TopicName) {
        for m in self.offsets.write().values_mut() {
            m.retain(|(t, _), _| t != topic);
        }
        self.file.mark();
    }

    /// Forgets a deleted group's offsets; returns whether it had any.
    pub fn remove_group(&self, group: &GroupName) -> bool {
        let removed = self.offsets.write().remove(group).is_some();
        if removed {
            self.file.mark();
        }
        removed
    }

    /// Writes the offsets to disk if anything changed since the last write.
    ///
    /// # Errors
    /// The I/O error; the offsets stay dirty and are retried next time.
    pub fn persist(&self) -> std::io::Result<()> {
        self.file.save(|| OffsetsFile {
            offsets: self
                .offsets
                .read()
                .iter()
                .flat_map(|(g, m)| {
                    m.iter().map(|((t, q), o)| Entry {
                        group: g.clone(),
                        topic: t.clone(),
                        queue_id: *q,
                        offset: *o,
                    })
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let g = GroupName::new("g").unwrap();
        let t = TopicName::new("t").unwrap();
        let m = OffsetManager::load(dir.path().to_path_buf()).unwrap();
        m.commit(&g, &t, QueueId::new(1), QueueOffset::new(42));
        m.commit(&g, &t, QueueId::new(1), QueueOffset::new(43));
        m.persist().unwrap();
        let m2 = OffsetManager::load(dir.path().to_path_buf()).unwrap();
        assert_eq!(
            m2.query(&g, &t, QueueId::new(1)),
            Some(QueueOffset::new(43))
        );
        assert_eq!(m2.query(&g, &t, QueueId::new(0)), None);
        assert_eq!(m2.group_offsets(&g, None).len(), 1);
        assert!(m2.remove_group(&g));
        assert!(!m2.remove_group(&g));
        m2.persist().unwrap();
        let m3 = OffsetManager::load(dir.path().to_path_buf()).unwrap();
        assert_eq!(m3.query(&g, &t, QueueId::new(1)), None);
    }
}
