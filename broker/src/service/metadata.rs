//! Metadata that follows the master: a slave takes the master's topics,
//! subscription groups, consumer offsets and delay progress, so a consumer
//! that moves to the slave resumes where its group was.

use ferromq_protocol::header::{GroupOffset, MetadataSnapshot};

use super::Broker;

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

    /// Makes this slave's metadata the master's: what differs is written,
    /// what the master no longer has is removed. Returns how many entries
    /// changed.
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
        for o in &m.offsets {
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
