//! Which strings a record is indexed under, and their hash.
//!
//! Keys live in one namespace per topic, `topic#key`, for each of the
//! record's space-separated keys and for its `UNIQ_KEY` property (as in
//! RocketMQ). The index stores only a 32-bit hash; a lookup re-reads each
//! candidate record and compares the real key, so collisions cost a read,
//! never a wrong answer.

use ferromq_protocol::record::{RecordRef, PROPERTY_UNIQ_KEY};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Key hashes of one topic: FNV-1a over `topic`, `#`, `key`, folded to 32
/// bits, with the `topic#` part computed once (a batch's records share
/// their topic). Stable across versions: it is stored in index files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TopicHasher {
    prefix: u64,
}

impl TopicHasher {
    pub(crate) fn new(topic: &str) -> Self {
        Self {
            prefix: fnv1a(fnv1a(FNV_OFFSET, topic.as_bytes()), b"#"),
        }
    }

    pub(crate) fn key(&self, key: &str) -> u32 {
        let h = fnv1a(self.prefix, key.as_bytes());
        (h ^ (h >> 32)) as u32
    }

    /// Appends the hashes `rec` (a record of this topic) is indexed under;
    /// returns how many.
    pub(crate) fn record(&self, rec: &RecordRef<'_>, out: &mut Vec<u32>) -> u32 {
        let before = out.len();
        for key in rec.keys.split(' ').filter(|k| !k.is_empty()) {
            out.push(self.key(key));
        }
        if let Some(id) = rec.property(PROPERTY_UNIQ_KEY).filter(|v| !v.is_empty()) {
            out.push(self.key(id));
        }
        (out.len() - before) as u32
    }
}

/// The hash of `key` in `topic`'s namespace (see [`TopicHasher`]).
pub(crate) fn key_hash(topic: &str, key: &str) -> u32 {
    TopicHasher::new(topic).key(key)
}

/// Appends the hashes a record is indexed under; returns how many.
pub(crate) fn record_hashes(rec: &RecordRef<'_>, out: &mut Vec<u32>) -> u32 {
    TopicHasher::new(rec.topic).record(rec, out)
}

/// Whether `rec` is indexed under `key` as one of its keys.
pub(crate) fn has_key(rec: &RecordRef<'_>, key: &str) -> bool {
    rec.keys.split(' ').any(|k| k == key)
}

/// Whether `rec`'s unique id is `id`.
pub(crate) fn has_unique_id(rec: &RecordRef<'_>, id: &str) -> bool {
    rec.property(PROPERTY_UNIQ_KEY) == Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_separates_topics() {
        assert_eq!(key_hash("T", "k"), key_hash("T", "k"));
        assert_ne!(key_hash("T", "k"), key_hash("U", "k"));
        // Pinned: index files on disk depend on it.
        assert_eq!(key_hash("TopicA", "order-1"), 0x01b4_ef50);
        assert_eq!(key_hash("", ""), {
            let h = (FNV_OFFSET ^ u64::from(b'#')).wrapping_mul(FNV_PRIME);
            (h ^ (h >> 32)) as u32
        });
        // The topic's part is shared, not mixed up between keys.
        let t = TopicHasher::new("TopicA");
        assert_eq!(t.key("order-1"), 0x01b4_ef50);
        assert_ne!(t.key("order-2"), t.key("order-1"));
        assert_eq!(t.key("order-1"), 0x01b4_ef50);
    }
}
