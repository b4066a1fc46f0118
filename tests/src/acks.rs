//! Sends a test saw acknowledged, and the check that a stopped broker's
//! store holds each of them: replication and failover tests.

use std::path::Path;

use bytes::Bytes;
use ferromq_client::{QueueId, QueueOffset, TopicName};
use ferromq_protocol::record;

use crate::stores::{close_store, open_store};

/// One send acknowledged with `SendStatus::Ok`.
#[derive(Clone, Debug)]
pub struct Ack {
    /// Its commit-log offset (from the message id).
    pub offset: u64,
    /// Its queue.
    pub queue_id: QueueId,
    /// Its queue offset.
    pub queue_offset: QueueOffset,
    /// What was sent.
    pub body: Bytes,
}

/// Checks that every acknowledged send is in the stopped broker's store
/// at `dir`, intact, at its commit-log offset and queue offset, and that
/// the store's own consume queue finds it there; returns how many were
/// found and the store's log end.
///
/// # Panics
/// On the first send missing, different or corrupt.
pub async fn check_acks_on(dir: &Path, acks: &[Ack], topic: &TopicName) -> (usize, u64) {
    let store = open_store(dir).await;
    let mut found = 0;
    for a in acks {
        let rec = store
            .read_at(ferromq_client::CommitLogOffset::new(a.offset))
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "acknowledged message at {} missing from {}",
                    a.offset,
                    dir.display()
                )
            });
        let m = record::decode(&rec).unwrap_or_else(|e| {
            panic!(
                "record at {} in {} is corrupt: {e}",
                a.offset,
                dir.display()
            )
        });
        assert_eq!(m.message.topic, *topic, "at {}", a.offset);
        assert_eq!(m.queue_id, a.queue_id, "at {}", a.offset);
        assert_eq!(m.queue_offset, a.queue_offset, "at {}", a.offset);
        assert_eq!(m.message.body, a.body, "at {}", a.offset);
        assert_eq!(m.commit_log_offset.get(), a.offset);
        let read = store
            .read(topic, a.queue_id, a.queue_offset, 1, u32::MAX)
            .unwrap();
        let via_cq = record::decode_all(&read.records.into_bytes()).unwrap();
        assert_eq!(
            via_cq.first().map(|m| m.commit_log_offset.get()),
            Some(a.offset),
            "consume queue {} offset {} in {}",
            a.queue_id,
            a.queue_offset,
            dir.display()
        );
        found += 1;
    }
    let end = store.log_end().get();
    close_store(store).await;
    (found, end)
}
