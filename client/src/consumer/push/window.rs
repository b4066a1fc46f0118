//! One queue's process window: the messages pulled and not yet done, by
//! queue offset, and where the next pull starts. The offset a group may
//! commit is the lowest offset still in the window — or, when it is empty,
//! the next pull offset — so no unfinished message is ever skipped.

use std::collections::BTreeMap;

use ferromq_protocol::{QueueOffset, StoredMessage};

/// Flow-control limits of one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Limits {
    pub(super) messages: usize,
    pub(super) bytes: u64,
}

#[derive(Debug, Default)]
pub(super) struct Window {
    msgs: BTreeMap<QueueOffset, StoredMessage>,
    bytes: u64,
    /// One past everything pulled or skipped; `None` until the start
    /// offset is known.
    next: Option<QueueOffset>,
}

/// The memory a message holds, for the byte limit.
fn size(m: &StoredMessage) -> u64 {
    (m.message.body.len() as u64).max(u64::from(m.stored_size))
}

impl Window {
    /// Sets where pulling starts.
    pub(super) fn start(&mut self, at: QueueOffset) {
        self.next = Some(at);
    }

    /// Where the next pull starts, if known.
    pub(super) fn next(&self) -> Option<QueueOffset> {
        self.next
    }

    /// Adds pulled messages (offsets at or past the current next offset)
    /// and moves the next offset to `next`.
    pub(super) fn add(&mut self, msgs: &[StoredMessage], next: QueueOffset) {
        for m in msgs {
            if self.msgs.insert(m.queue_offset, m.clone()).is_none() {
                self.bytes += size(m);
            }
        }
        self.next = Some(next);
    }

    /// Moves the next offset to `next` without adding anything (messages
    /// filtered out, or the queue's range moved). Messages already in the
    /// window stay: they still hold the commit offset back.
    pub(super) fn jump(&mut self, next: QueueOffset) {
        self.next = Some(next);
    }

    /// Removes done messages; returns how many were still there.
    pub(super) fn remove(&mut self, offsets: &[QueueOffset]) -> usize {
        let mut n = 0;
        for o in offsets {
            if let Some(m) = self.msgs.remove(o) {
                self.bytes -= size(&m);
                n += 1;
            }
        }
        n
    }

    /// The offset the group may commit: the lowest unfinished one, else the
    /// next pull offset.
    pub(super) fn commit_offset(&self) -> Option<QueueOffset> {
        self.msgs.keys().next().copied().or(self.next)
    }

    /// Whether pulling must pause.
    pub(super) fn is_full(&self, limits: Limits) -> bool {
        self.msgs.len() >= limits.messages || self.bytes >= limits.bytes
    }

    /// The first `n` messages in offset order (orderly consumption).
    pub(super) fn first(&self, n: usize) -> Vec<StoredMessage> {
        self.msgs.values().take(n).cloned().collect()
    }

    /// Messages in the window.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.msgs.len()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use bytes::BytesMut;
    use ferromq_protocol::record::{self, BornInfo, StoreStamp};
    use ferromq_protocol::{CommitLogOffset, Message, QueueId, TopicName};

    use super::*;

    pub(crate) fn msg(topic: &str, offset: u64, tags: Option<&str>) -> StoredMessage {
        let mut m = Message::new(TopicName::new(topic).unwrap(), vec![b'x'; 10]);
        if let Some(t) = tags {
            m = m.with_tags(t);
        }
        let host = "127.0.0.1:10911".parse().unwrap();
        let born = BornInfo {
            timestamp: 1,
            host,
            flags: 0,
            reconsume_times: 0,
        };
        let mut b = BytesMut::new();
        record::encode(&m, born, 1 << 20, &mut b).unwrap();
        record::stamp(
            &mut b,
            &StoreStamp {
                queue_id: QueueId::new(0),
                queue_offset: QueueOffset::new(offset),
                commit_log_offset: CommitLogOffset::new(offset * 100),
                timestamp: 2,
                host,
            },
        );
        record::decode(&b.freeze()).unwrap()
    }

    fn o(v: u64) -> QueueOffset {
        QueueOffset::new(v)
    }

    #[test]
    fn commit_offset_is_the_lowest_unfinished() {
        let mut w = Window::default();
        assert_eq!(w.commit_offset(), None);
        w.start(o(5));
        assert_eq!(w.commit_offset(), Some(o(5)));
        let batch: Vec<_> = (5..9).map(|i| msg("T", i, None)).collect();
        w.add(&batch, o(9));
        assert_eq!(w.commit_offset(), Some(o(5)));
        assert_eq!(w.remove(&[o(6), o(7)]), 2);
        assert_eq!(w.commit_offset(), Some(o(5)), "5 is unfinished");
        w.remove(&[o(5)]);
        assert_eq!(w.commit_offset(), Some(o(8)));
        w.remove(&[o(8), o(8)]);
        assert_eq!(w.commit_offset(), Some(o(9)), "empty: the next offset");
        w.jump(o(20));
        assert_eq!(
            w.commit_offset(),
            Some(o(20)),
            "filtered messages are passed"
        );
    }

    #[test]
    fn limits_pause_pulling() {
        let mut w = Window::default();
        w.start(o(0));
        let batch: Vec<_> = (0..3).map(|i| msg("T", i, None)).collect();
        w.add(&batch, o(3));
        let one = size(&batch[0]);
        assert!(w.is_full(Limits {
            messages: 3,
            bytes: u64::MAX
        }));
        assert!(!w.is_full(Limits {
            messages: 4,
            bytes: 3 * one + 1
        }));
        assert!(w.is_full(Limits {
            messages: 4,
            bytes: 3 * one
        }));
        w.remove(&[o(0), o(1), o(2)]);
        assert_eq!((w.len(), w.bytes), (0, 0));
    }

    #[test]
    fn first_is_in_offset_order() {
        let mut w = Window::default();
        w.start(o(0));
        w.add(
            &[msg("T", 2, None), msg("T", 0, None), msg("T", 1, None)],
            o(3),
        );
        let firsts: Vec<u64> = w.first(2).iter().map(|m| m.queue_offset.get()).collect();
        assert_eq!(firsts, [0, 1]);
        assert_eq!(w.next(), Some(o(3)));
    }
}
