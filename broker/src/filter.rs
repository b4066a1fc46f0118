//! Tag filtering for pulls. A subscription's expression (`TagA || TagB`)
//! becomes a set of (tag hash, tag). The store skips entries whose
//! consume-queue tag hash is not in it without reading their records; the
//! tag string of what it returns settles hash collisions. The pull still advances past skipped records,
//! and a read that skipped everything is answered at once, so a long run
//! of non-matching messages never stalls a consumer.

use bytes::Bytes;
use ferromq_protocol::header::parse_tag_expression;
use ferromq_protocol::record::{raw, tag_hash};
use ferromq_protocol::{QueueId, QueueOffset, TopicName};

use ferromq_store::{MessageStore, ReadResult, ReadStatus, StoreError};

/// Most consume-queue entries one filtered pull looks at before answering.
const MAX_SCANNED: u64 = 8192;

/// The tags a subscription accepts.
#[derive(Clone, Debug)]
pub(crate) struct TagFilter {
    /// (hash, tag): the hash is compared first, the string settles
    /// collisions.
    tags: Vec<(u64, String)>,
}

impl TagFilter {
    /// `None` when the expression takes every message (`*`, empty, absent).
    pub(crate) fn parse(expression: Option<&str>) -> Option<Self> {
        let tags = parse_tag_expression(expression?)?;
        Some(Self {
            tags: tags.into_iter().map(|t| (tag_hash(&t), t)).collect(),
        })
    }

    /// Whether a consume-queue tag hash may belong to an accepted tag (the
    /// store skips the others without reading them).
    pub(crate) fn accepts_hash(&self, hash: u64) -> bool {
        self.tags.iter().any(|(h, _)| *h == hash)
    }

    /// Whether a stored record's tag is accepted. A message without a tag
    /// matches no explicit tag (as in RocketMQ).
    pub(crate) fn matches(&self, rec: &[u8]) -> bool {
        let Some(tag) = raw::tags(rec) else {
            // Unreadable (cannot happen for a verified record): let the
            // client decide rather than lose it here.
            return true;
        };
        if tag.is_empty() {
            return false;
        }
        let h = tag_hash(tag);
        self.tags.iter().any(|(th, t)| *th == h && t == tag)
    }
}

/// A pull's read.
pub(crate) enum Pulled {
    /// What the store answered, with non-matching records removed.
    Read(ReadResult),
    /// Records were read but none matched; continue at `next_offset`.
    AllFiltered {
        next_offset: QueueOffset,
        min_offset: QueueOffset,
        max_offset: QueueOffset,
    },
}

/// Reads a queue for a pull, keeping only records `filter` accepts (all
/// when `None`). Returns at most `max_messages` records and about
/// `max_bytes` (at least one); `next_offset` is past every record looked
/// at, kept or skipped.
///
/// # Errors
/// The store's read error, when nothing could be read before it.
pub(crate) fn read(
    store: &MessageStore,
    topic: &TopicName,
    queue_id: QueueId,
    offset: QueueOffset,
    max_messages: u32,
    max_bytes: u32,
    filter: Option<&TagFilter>,
) -> Result<Pulled, StoreError> {
    let Some(filter) = filter else {
        return store
            .read(topic, queue_id, offset, max_messages, max_bytes)
            .map(Pulled::Read);
    };
    let start = offset.get();
    let mut at = start;
    let mut kept: Vec<Bytes> = Vec::new();
    let (mut min, mut max) = (QueueOffset::new(0), QueueOffset::new(0));
    // Each store call scans up to its own entry limit by tag hash and reads
    // only the matching records; a call that keeps nothing (all skipped, or
    // hash collisions) moves on, up to MAX_SCANNED entries per pull.
    while at - start < MAX_SCANNED {
        let accept = |h: u64| filter.accepts_hash(h);
        let r = match store.read_matching(
            topic,
            queue_id,
            QueueOffset::new(at),
            max_messages,
            max_bytes,
            &accept,
        ) {
            Ok(r) => r,
            // What was gathered is served; the next pull meets the error.
            Err(e) if at == start => return Err(e),
            Err(e) => {
                tracing::warn!(%topic, %queue_id, offset = at, error = %e, "filtered read stopped early");
                break;
            }
        };
        if r.status != ReadStatus::Found {
            if at == start {
                return Ok(Pulled::Read(r));
            }
            (min, max) = (r.min_offset, r.max_offset);
            break;
        }
        (min, max) = (r.min_offset, r.max_offset);
        // The hash matched; the tag string settles collisions. The store
        // returned no more than asked for, so nothing here overflows.
        for rec in &r.records {
            if filter.matches(&rec) {
                kept.push(rec);
            }
        }
        at = r.next_offset.get();
        if !kept.is_empty() {
            break;
        }
    }
    let next_offset = QueueOffset::new(at);
    if kept.is_empty() {
        return Ok(Pulled::AllFiltered {
            next_offset,
            min_offset: min,
            max_offset: max,
        });
    }
    Ok(Pulled::Read(ReadResult {
        status: ReadStatus::Found,
        records: kept.into_iter().collect(),
        next_offset,
        min_offset: min,
        max_offset: max,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ferromq_protocol::record::{encode, BornInfo, Message};

    fn rec(tag: Option<&str>) -> BytesMut {
        let mut m = Message::new(TopicName::new("T").unwrap(), &b"x"[..]);
        m.tags = tag.map(str::to_string);
        let mut b = BytesMut::new();
        let born = BornInfo {
            timestamp: 1,
            host: "127.0.0.1:1".parse().unwrap(),
            flags: 0,
            reconsume_times: 0,
        };
        encode(&m, born, 1 << 20, &mut b).unwrap();
        b
    }

    #[test]
    fn expressions() {
        assert!(TagFilter::parse(None).is_none());
        assert!(TagFilter::parse(Some("*")).is_none());
        assert!(TagFilter::parse(Some(" ")).is_none());
        let f = TagFilter::parse(Some("TagA || TagB")).unwrap();
        assert!(f.matches(&rec(Some("TagA"))));
        assert!(f.matches(&rec(Some("TagB"))));
        assert!(!f.matches(&rec(Some("TagC"))));
        assert!(!f.matches(&rec(Some("TagAB"))));
        assert!(!f.matches(&rec(None)));
    }
}
