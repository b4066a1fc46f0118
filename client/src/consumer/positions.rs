//! Per-queue consume positions of a pull consumer: where the application
//! has got to (the next offset it has not been given) and what was last
//! committed, so a commit only sends what changed.

use std::collections::{BTreeMap, HashMap};

use ferromq_protocol::header::OffsetEntry;
use ferromq_protocol::QueueOffset;
use parking_lot::Mutex;

use crate::route::MessageQueue;

#[derive(Clone, Copy, Debug)]
struct Position {
    next: QueueOffset,
    committed: Option<QueueOffset>,
}

/// Positions of every queue the consumer has started on.
#[derive(Debug, Default)]
pub(super) struct Positions {
    /// Written by pull tasks (start offsets) and polls; never held across
    /// an await.
    map: Mutex<HashMap<MessageQueue, Position>>,
}

impl Positions {
    /// Records where a queue starts, unless it already has a position (a
    /// restarted pull task must not move the application backwards or
    /// forwards). `committed` says whether `start` came from the broker's
    /// committed offset; a start chosen by `ConsumeFrom` is committed on the
    /// next commit, so a later run resumes from it instead of choosing again.
    pub(super) fn start(&self, q: &MessageQueue, start: QueueOffset, committed: bool) {
        self.map.lock().entry(q.clone()).or_insert(Position {
            next: start,
            committed: committed.then_some(start),
        });
    }

    /// The application was given the message at `offset` of `q`.
    pub(super) fn returned(&self, q: &MessageQueue, offset: QueueOffset) {
        let next = QueueOffset::new(offset.get() + 1);
        let mut map = self.map.lock();
        let p = map.entry(q.clone()).or_insert(Position {
            next,
            committed: None,
        });
        p.next = p.next.max(next);
    }

    /// Positions that differ from what was last committed.
    pub(super) fn uncommitted(&self) -> Vec<(MessageQueue, QueueOffset)> {
        self.map
            .lock()
            .iter()
            .filter(|(_, p)| p.committed != Some(p.next))
            .map(|(q, p)| (q.clone(), p.next))
            .collect()
    }

    /// `offset` of `q` is now committed.
    pub(super) fn committed(&self, q: &MessageQueue, offset: QueueOffset) {
        if let Some(p) = self.map.lock().get_mut(q) {
            p.committed = Some(offset);
        }
    }
}

/// Groups positions by broker name, one commit request each.
pub(super) fn by_broker(
    entries: &[(MessageQueue, QueueOffset)],
) -> BTreeMap<&ferromq_protocol::BrokerName, Vec<OffsetEntry>> {
    let mut out: BTreeMap<_, Vec<OffsetEntry>> = BTreeMap::new();
    for (q, offset) in entries {
        out.entry(&q.broker_name).or_default().push(OffsetEntry {
            topic: q.topic.clone(),
            queue_id: q.queue_id,
            offset: *offset,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use ferromq_protocol::{BrokerName, QueueId, TopicName};

    use super::*;

    fn q(broker: &str, id: u32) -> MessageQueue {
        MessageQueue::new(
            TopicName::new("T").unwrap(),
            BrokerName::new(broker).unwrap(),
            QueueId::new(id),
        )
    }

    fn off(v: u64) -> QueueOffset {
        QueueOffset::new(v)
    }

    #[test]
    fn commit_sends_only_changes() {
        let p = Positions::default();
        p.start(&q("a", 0), off(5), true);
        p.start(&q("a", 1), off(9), false);
        let mut dirty = p.uncommitted();
        dirty.sort();
        assert_eq!(dirty, [(q("a", 1), off(9))], "chosen start is committed");
        p.committed(&q("a", 1), off(9));
        assert!(p.uncommitted().is_empty());
        p.returned(&q("a", 0), off(5));
        p.returned(&q("a", 0), off(6));
        assert_eq!(p.uncommitted(), [(q("a", 0), off(7))], "last returned + 1");
    }

    #[test]
    fn restarted_task_keeps_the_position() {
        let p = Positions::default();
        p.start(&q("a", 0), off(5), true);
        p.returned(&q("a", 0), off(7));
        p.start(&q("a", 0), off(0), false);
        assert_eq!(p.uncommitted(), [(q("a", 0), off(8))]);
    }

    #[test]
    fn groups_by_broker() {
        let entries = [
            (q("a", 0), off(1)),
            (q("b", 0), off(2)),
            (q("a", 3), off(4)),
        ];
        let g = by_broker(&entries);
        assert_eq!(g.len(), 2);
        let a = &g[&BrokerName::new("a").unwrap()];
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].queue_id, QueueId::new(3));
        assert_eq!(a[1].offset, off(4));
    }
}
