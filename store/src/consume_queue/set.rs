//! All consume queues of the store, by topic and queue id.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferromq_protocol::{QueueId, TopicName};
use parking_lot::RwLock;

use super::load::{self, LoadParams};
use super::ConsumeQueue;
use crate::error::{io_at, StoreError};
use crate::fsutil::sync_dir;

type QueueMap = HashMap<TopicName, BTreeMap<QueueId, Arc<ConsumeQueue>>>;

pub(crate) struct ConsumeQueues {
    root: PathBuf,
    per_file: u64,
    /// Read-locked by every lookup; write-locked to add a queue (dispatcher)
    /// or drop a topic.
    map: RwLock<QueueMap>,
}

/// What the checkpoint recorded for a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KnownQueue {
    /// Entries (the max offset).
    pub(crate) count: u64,
    /// The min offset.
    pub(crate) min: u64,
}

/// A queue that must be refilled from the commit log during recovery.
pub(crate) struct Lagging {
    pub(crate) topic: TopicName,
    pub(crate) queue_id: QueueId,
    pub(crate) from: u64,
}

impl ConsumeQueues {
    /// Loads every queue under `root`. `known` holds the entry counts from
    /// the checkpoint; a queue it names that is missing on disk is recreated
    /// empty and reported as lagging.
    pub(crate) fn load(
        root: &Path,
        per_file: u64,
        known: &HashMap<(TopicName, QueueId), KnownQueue>,
        log_end: u64,
        log_start: u64,
    ) -> Result<(Self, Vec<Lagging>), StoreError> {
        let mut map = QueueMap::new();
        let mut lagging = Vec::new();
        for (topic, queue_id, dir) in queue_dirs(root)? {
            let k = known.get(&(topic.clone(), queue_id));
            let params = LoadParams {
                per_file,
                known: k.map(|k| k.count),
                known_min: k.map(|k| k.min),
                log_end,
                log_start,
            };
            let loaded = load::load(dir, topic.clone(), queue_id, &params)?;
            if let Some(from) = loaded.lagging_from {
                lagging.push(Lagging {
                    topic: topic.clone(),
                    queue_id,
                    from,
                });
            }
            map.entry(topic)
                .or_default()
                .insert(queue_id, Arc::new(loaded.cq));
        }
        let set = Self {
            root: root.to_path_buf(),
            per_file,
            map: RwLock::new(map),
        };
        for ((topic, queue_id), k) in known {
            if k.count == 0 || set.get(topic.as_str(), *queue_id).is_some() {
                continue;
            }
            // Recreated even when retention had emptied it: its offsets
            // must not restart at 0 under consumers' committed offsets.
            let cq = set.get_or_create(topic, *queue_id)?;
            if k.count > k.min {
                tracing::warn!(%topic, %queue_id, entries = k.count, "consume queue missing; rebuilding it from the commit log");
                lagging.push(Lagging {
                    topic: topic.clone(),
                    queue_id: *queue_id,
                    from: log_start,
                });
            } else {
                cq.start_at(k.count)?;
            }
        }
        Ok((set, lagging))
    }

    pub(crate) fn get(&self, topic: &str, queue_id: QueueId) -> Option<Arc<ConsumeQueue>> {
        self.map.read().get(topic)?.get(&queue_id).cloned()
    }

    pub(crate) fn get_or_create(
        &self,
        topic: &TopicName,
        queue_id: QueueId,
    ) -> Result<Arc<ConsumeQueue>, StoreError> {
        if let Some(cq) = self.get(topic.as_str(), queue_id) {
            return Ok(cq);
        }
        let mut map = self.map.write();
        let queues = map.entry(topic.clone()).or_default();
        if let Some(cq) = queues.get(&queue_id) {
            return Ok(cq.clone());
        }
        let dir = self
            .root
            .join(topic.as_str())
            .join(queue_id.get().to_string());
        let cq = Arc::new(ConsumeQueue::create(
            dir,
            topic.clone(),
            queue_id,
            self.per_file,
        )?);
        queues.insert(queue_id, cq.clone());
        Ok(cq)
    }

    pub(crate) fn queue_ids(&self, topic: &str) -> Vec<QueueId> {
        self.map
            .read()
            .get(topic)
            .map(|q| q.keys().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        self.map
            .read()
            .values()
            .flat_map(|q| q.values().cloned())
            .collect()
    }

    /// Forgets a queue that holds nothing and never did (max 0: a
    /// truncation cut all its records) and removes its directory, and the
    /// topic's if it was the last.
    pub(crate) fn remove_unused(&self, topic: &str, queue_id: QueueId) -> Result<(), StoreError> {
        let last = {
            let mut map = self.map.write();
            let Some(queues) = map.get_mut(topic) else {
                return Ok(());
            };
            if queues.get(&queue_id).is_none_or(|cq| cq.max() != 0) {
                return Ok(());
            }
            queues.remove(&queue_id);
            let last = queues.is_empty();
            if last {
                map.remove(topic);
            }
            last
        };
        let tdir = self.root.join(topic);
        let (dir, parent) = if last {
            (tdir, self.root.clone())
        } else {
            (tdir.join(queue_id.get().to_string()), tdir)
        };
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_at("remove consume queue", &dir))?;
            sync_dir(&parent)?;
        }
        Ok(())
    }

    /// Forgets the topic's queues and removes their files. Readers holding
    /// a queue keep reading the unlinked files until they let go.
    pub(crate) fn remove_topic(&self, topic: &str) -> Result<bool, StoreError> {
        let removed = self.map.write().remove(topic).is_some();
        let dir = self.root.join(topic);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_at("remove consume queues", &dir))?;
            sync_dir(&self.root)?;
        }
        Ok(removed)
    }
}

/// `(topic, queue id, dir)` of every queue directory; anything that is not a
/// valid topic name or queue id is skipped with a warning.
fn queue_dirs(root: &Path) -> Result<Vec<(TopicName, QueueId, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for t in fs::read_dir(root).map_err(io_at("list consume queues", root))? {
        let t = t.map_err(io_at("list consume queues", root))?;
        let tpath = t.path();
        let Some(topic) = t.file_name().to_str().and_then(|n| TopicName::new(n).ok()) else {
            tracing::warn!(path = %tpath.display(), "ignoring unexpected entry in consumequeue/");
            continue;
        };
        if !tpath.is_dir() {
            tracing::warn!(path = %tpath.display(), "ignoring unexpected file in consumequeue/");
            continue;
        }
        for q in fs::read_dir(&tpath).map_err(io_at("list consume queues", &tpath))? {
            let q = q.map_err(io_at("list consume queues", &tpath))?;
            let qpath = q.path();
            let id = q.file_name().to_str().and_then(|n| n.parse::<u32>().ok());
            match id {
                Some(id) if qpath.is_dir() => out.push((topic.clone(), QueueId::new(id), qpath)),
                _ => {
                    tracing::warn!(path = %qpath.display(), "ignoring unexpected entry in a topic's consume-queue directory")
                }
            }
        }
    }
    Ok(out)
}
