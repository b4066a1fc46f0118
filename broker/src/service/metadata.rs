//! Metadata that follows the master: a slave takes the master's topics,
//! subscription groups, consumer offsets and delay progress, so a consumer
//! that moves to the slave resumes where its group was.
//!
//! Offsets go the other way too: a consumer that reads from the slave while
//! the master is unreachable commits there. The slave keeps such commits in
//! [`SlaveCommits`] and sends them with every metadata request; the master
//! takes each one that is ahead of its own, and the slave keeps its own
//! value over the master's until the master has confirmed it. So progress
//! made on a slave survives the master's return.

use std::collections::BTreeMap;

use ferromq_protocol::header::{GroupOffset, MetadataSnapshot, SlaveOffsets};
use ferromq_protocol::{GroupName, QueueId, QueueOffset, TopicName};
use parking_lot::Mutex;
use tracing::info;

use super::Broker;

type Key = (GroupName, TopicName, QueueId);

/// Offsets committed on this slave that its master has not confirmed.
#[derive(Debug, Default)]
pub(crate) struct SlaveCommits {
    /// Never held across an await.
    pending: Mutex<BTreeMap<Key, QueueOffset>>,
}

impl SlaveCommits {
    /// A consumer committed `offset` here.
    pub(crate) fn record(
        &self,
        group: &GroupName,
        topic: &TopicName,
        queue_id: QueueId,
        offset: QueueOffset,
    ) {
        self.pending
            .lock()
            .insert((group.clone(), topic.clone(), queue_id), offset);
    }

    fn to_wire(&self) -> SlaveOffsets {
        SlaveOffsets {
            offsets: self
                .pending
                .lock()
                .iter()
                .map(|((group, topic, queue_id), offset)| GroupOffset {
                    group: group.clone(),
                    topic: topic.clone(),
                    queue_id: *queue_id,
                    offset: *offset,
                })
                .collect(),
        }
    }
}

impl Broker {
    /// This broker's metadata, for its slaves.
    pub(crate) fn metadata_snapshot(&self) -> MetadataSnapshot {
        MetadataSnapshot {
            topics: self.topics.all(),
            groups: self.groups.subscriptions().all(),
            offsets: self
                .offsets
                .all()
                .into_iter()
                .map(|(group, topic, queue_id, offset)| GroupOffset {
                    group,
                    topic,
                    queue_id,
                    offset,
                })
                .collect(),
            delay_offsets: self.scheduler.offsets().all(),
        }
    }

    /// On a slave: the offsets committed here that the master has not
    /// confirmed yet, for the next metadata request.
    pub(crate) fn unconfirmed_offsets(&self) -> SlaveOffsets {
        self.slave_commits.to_wire()
    }

    /// On a master: takes a slave's offsets where they are ahead of its
    /// own (consumers read from the slave while this broker was away).
    /// Offsets of topics it does not have are ignored. Returns how many
    /// moved.
    pub(crate) fn merge_slave_offsets(&self, from: &str, offsets: &SlaveOffsets) -> usize {
        let mut moved = 0;
        for o in &offsets.offsets {
            if self.topics.get(&o.topic).is_none() {
                continue;
            }
            let mine = self.offsets.query(&o.group, &o.topic, o.queue_id);
            if mine.is_none_or(|m| m < o.offset) {
                self.offsets
                    .commit(&o.group, &o.topic, o.queue_id, o.offset);
                moved += 1;
            }
        }
        if moved > 0 {
            info!(slave = %from, moved, "took consumer offsets committed on a slave");
        }
        moved
    }

    /// Makes this slave's metadata the master's: what differs is written,
    /// what the master no longer has is removed. An offset committed here
    /// that the master's snapshot does not cover yet stays. Returns how
    /// many entries changed.
    pub(crate) fn adopt_metadata(&self, m: MetadataSnapshot) -> usize {
        let mut changed = 0;
        let mut routes = false;
        for t in &m.topics {
            if self.topics.get(&t.name).as_ref() != Some(t) {
                match self.topics.upsert(t.clone()) {
                    Ok(()) => {
                        changed += 1;
                        routes = true;
                    }
                    Err(e) => {
                        tracing::warn!(topic = %t.name, error = %e, "cannot take over a topic")
                    }
                }
            }
        }
        for t in self.topics.all() {
            if !m.topics.iter().any(|mt| mt.name == t.name) {
                match self.topics.remove(&t.name) {
                    Ok(_) => {
                        self.offsets.remove_topic(&t.name);
                        changed += 1;
                        routes = true;
                    }
                    Err(e) => tracing::warn!(topic = %t.name, error = %e, "cannot remove a topic"),
                }
            }
        }
        let subs = self.groups.subscriptions();
        for g in &m.groups {
            if subs.get(&g.group).as_ref() != Some(g) {
                match subs.upsert(g.clone()) {
                    Ok(()) => changed += 1,
                    Err(e) => {
                        tracing::warn!(group = %g.group, error = %e, "cannot take over a group")
                    }
                }
            }
        }
        let pending = {
            let masters: BTreeMap<Key, QueueOffset> = m
                .offsets
                .iter()
                .map(|o| ((o.group.clone(), o.topic.clone(), o.queue_id), o.offset))
                .collect();
            let mut pending = self.slave_commits.pending.lock();
            // Confirmed: the master has them (or is past them). Offsets of
            // a topic the master deleted go with it.
            pending.retain(|k, mine| {
                m.topics.iter().any(|t| t.name == k.1)
                    && masters.get(k).is_none_or(|theirs| theirs < mine)
            });
            pending.clone()
        };
        for o in &m.offsets {
            // Only a slave that served consumers has any.
            if !pending.is_empty()
                && pending.contains_key(&(o.group.clone(), o.topic.clone(), o.queue_id))
            {
                continue;
            }
            if self.offsets.query(&o.group, &o.topic, o.queue_id) != Some(o.offset) {
                self.offsets
                    .commit(&o.group, &o.topic, o.queue_id, o.offset);
                changed += 1;
            }
        }
        let delays = self.scheduler.offsets();
        for (level, offset) in &m.delay_offsets {
            if delays.get(*level) != *offset {
                delays.set(*level, *offset);
                changed += 1;
            }
        }
        if routes {
            self.register_soon();
        }
        changed
    }
}
