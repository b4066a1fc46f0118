//! Field access on raw records without decoding them: the broker's tags
//! for the pull filter, a property for the send path, the store's stamped
//! offset and time for a search by time (from the fixed header alone, so a
//! large record is not read whole). Used on records the store already
//! verified (pull), is about to verify (send) or checks against its own
//! index (search), so no CRC is computed here; every length is
//! bounds-checked, and a malformed record just yields `None`.

use super::{MIN_RECORD_LEN, OFF_PHYS_OFFSET, OFF_STORE_TS, RECORD_FIXED_LEN};

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(usize::from(u16::from_be_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok()
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(s.try_into().ok()?))
}

/// The commit-log offset stamped into the record (its fixed header is
/// enough).
pub fn commit_log_offset(rec: &[u8]) -> Option<u64> {
    be64(rec, OFF_PHYS_OFFSET)
}

/// The store time stamped into the record, ms since the epoch (its fixed
/// header is enough).
pub fn store_timestamp(rec: &[u8]) -> Option<u64> {
    be64(rec, OFF_STORE_TS)
}

/// Start of the tags-length field (after the topic).
fn tags_at(rec: &[u8]) -> Option<usize> {
    let topic_len = usize::from(*rec.get(RECORD_FIXED_LEN)?);
    RECORD_FIXED_LEN.checked_add(1 + topic_len)
}

/// The record's tags ("" for none).
pub fn tags(rec: &[u8]) -> Option<&str> {
    let at = tags_at(rec)?;
    let n = be16(rec, at)?;
    std::str::from_utf8(rec.get(at + 2..at + 2 + n)?).ok()
}

/// A property of the record.
pub fn property<'a>(rec: &'a [u8], key: &str) -> Option<&'a str> {
    let mut at = tags_at(rec)?;
    at += 2 + be16(rec, at)?; // tags
    at += 2 + be16(rec, at)?; // keys
    let props_len = be32(rec, at)?;
    let mut props = rec.get(at + 4..(at + 4).checked_add(props_len)?)?;
    while !props.is_empty() {
        let kn = be16(props, 0)?;
        let k = props.get(2..2 + kn)?;
        let vn = be16(props, 2 + kn)?;
        let v = props.get(4 + kn..4 + kn + vn)?;
        if k == key.as_bytes() {
            return std::str::from_utf8(v).ok();
        }
        props = &props[4 + kn + vn..];
    }
    None
}

/// The records of a batch of back-to-back records, by their size prefix;
/// stops at the first size that does not fit.
pub fn records(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let size = be32(rest, 0)?;
        if size < MIN_RECORD_LEN || size > rest.len() {
            return None;
        }
        let (rec, tail) = rest.split_at(size);
        rest = tail;
        Some(rec)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::TopicName;
    use crate::record::{encode, BornInfo, Message};
    use bytes::BytesMut;

    fn enc(m: &Message) -> BytesMut {
        let mut b = BytesMut::new();
        let born = BornInfo {
            timestamp: 1,
            host: "127.0.0.1:1".parse().unwrap(),
            flags: 0,
            reconsume_times: 0,
        };
        encode(m, born, 1 << 20, &mut b).unwrap();
        b
    }

    #[test]
    fn reads_tags_and_properties() {
        let m = Message::new(TopicName::new("Topic").unwrap(), &b"body"[..])
            .with_tags("TagA")
            .with_key("k1")
            .with_property("A", "1")
            .with_property("DELAY", "3");
        let mut b = enc(&m);
        assert_eq!(tags(&b), Some("TagA"));
        assert_eq!(property(&b, "DELAY"), Some("3"));
        assert_eq!(property(&b, "A"), Some("1"));
        assert_eq!(property(&b, "B"), None);
        let plain = enc(&Message::new(TopicName::new("T").unwrap(), &b"x"[..]));
        assert_eq!(tags(&plain), Some(""));
        assert_eq!(property(&plain, "DELAY"), None);
        b.extend_from_slice(&plain);
        assert_eq!(records(&b).count(), 2);
    }

    #[test]
    fn reads_stamped_fields_from_the_fixed_header() {
        let mut b = enc(&Message::new(TopicName::new("T").unwrap(), &b"x"[..]));
        crate::record::stamp(
            &mut b,
            &crate::record::StoreStamp {
                queue_id: crate::QueueId::new(1),
                queue_offset: crate::QueueOffset::new(2),
                commit_log_offset: crate::CommitLogOffset::new(0x0102_0304_0506_0708),
                timestamp: 1_700_000_000_123,
                host: "127.0.0.1:2".parse().unwrap(),
            },
        );
        let r = crate::record::parse(&b).unwrap();
        let head = &b[..RECORD_FIXED_LEN];
        assert_eq!(commit_log_offset(head), Some(r.commit_log_offset.get()));
        assert_eq!(store_timestamp(head), Some(r.store_timestamp));
        assert_eq!(commit_log_offset(&b[..35]), None);
        assert_eq!(store_timestamp(&b[..51]), None);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        let good =
            enc(&Message::new(TopicName::new("T").unwrap(), &b"x"[..]).with_property("DELAY", "1"));
        for cut in 0..good.len() {
            let _ = tags(&good[..cut]);
            let _ = property(&good[..cut], "DELAY");
            let _ = records(&good[..cut]).count();
        }
        let mut bad = good.clone();
        for i in RECORD_FIXED_LEN..bad.len() {
            bad[i] = 0xFF;
            let _ = property(&bad, "DELAY");
            let _ = tags(&bad);
        }
    }
}
