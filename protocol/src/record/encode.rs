//! Writing a message as a sealed record, the producer's side of the layout.

use std::net::SocketAddr;

use bytes::{BufMut, BytesMut};

use super::{
    host_bytes, seal, Message, END_OF_SEGMENT_LEN, END_OF_SEGMENT_MAGIC, HOST_LEN, OFF_BORN_HOST,
    OFF_BORN_TS, OFF_FLAGS, OFF_RECONSUME, RECORD_FIXED_LEN, RECORD_MAGIC,
};
use crate::error::RecordError;

/// Fields the producer sets when it encodes a record.
#[derive(Clone, Copy, Debug)]
pub struct BornInfo {
    /// Creation time, ms since the epoch.
    pub timestamp: u64,
    /// Producer address.
    pub host: SocketAddr,
    /// Flags, e.g. the compression bits.
    pub flags: u32,
    /// Reconsume count (non-zero for redelivered messages).
    pub reconsume_times: u32,
}

/// The marker that ends a commit-log segment `remaining` bytes before its
/// end (the marker included): what follows it in the segment is unused.
pub fn end_of_segment(remaining: u32) -> [u8; END_OF_SEGMENT_LEN] {
    let mut m = [0u8; END_OF_SEGMENT_LEN];
    m[..4].copy_from_slice(&remaining.to_be_bytes());
    m[4..].copy_from_slice(&END_OF_SEGMENT_MAGIC.to_be_bytes());
    m
}

/// Bytes `msg` takes as a record.
pub fn encoded_len(msg: &Message) -> usize {
    let props = props_len(msg.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    RECORD_FIXED_LEN
        + 1
        + msg.topic.as_str().len()
        + 2
        + msg.tags.as_ref().map_or(0, String::len)
        + 2
        + keys_len(&msg.keys)
        + 4
        + props
        + 4
        + msg.body.len()
}

/// Bytes the properties take in a record: two length prefixes and the
/// bytes of each key and value.
fn props_len<'a>(props: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    props.map(|(k, v)| 4 + k.len() + v.len()).sum()
}

fn keys_len(keys: &[String]) -> usize {
    keys.iter().map(String::len).sum::<usize>() + keys.len().saturating_sub(1)
}

/// Appends `msg` to `dst` as a sealed record. The store fields are zero until
/// the broker stamps them.
///
/// # Errors
/// [`RecordError`] when a field does not fit its length prefix or the body is
/// over `max_body`; nothing is written then.
pub fn encode(
    msg: &Message,
    born: BornInfo,
    max_body: usize,
    dst: &mut BytesMut,
) -> Result<usize, RecordError> {
    encode_with(msg, None, born, max_body, dst)
}

/// [`encode`] with one more property, `extra`, after the message's own
/// ones, as if it were in `msg.properties` (whose key it must not share):
/// a producer adds the unique id this way without building a map entry
/// for every message.
///
/// # Errors
/// As [`encode`].
pub fn encode_with(
    msg: &Message,
    extra: Option<(&str, &str)>,
    born: BornInfo,
    max_body: usize,
    dst: &mut BytesMut,
) -> Result<usize, RecordError> {
    if msg.body.len() > max_body {
        return Err(RecordError::BodyTooLarge {
            len: msg.body.len(),
            max: max_body,
        });
    }
    let tags = msg.tags.as_deref().unwrap_or("");
    if tags.len() > usize::from(u16::MAX) {
        return Err(RecordError::Field("tags longer than 65535 bytes"));
    }
    if keys_len(&msg.keys) > usize::from(u16::MAX) {
        return Err(RecordError::Field("keys longer than 65535 bytes"));
    }
    if msg.keys.iter().any(|k| k.is_empty() || k.contains(' ')) {
        return Err(RecordError::Field(
            "keys must be non-empty and contain no spaces",
        ));
    }
    let props = || {
        msg.properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
    };
    if props().any(|(k, v)| k.len() > usize::from(u16::MAX) || v.len() > usize::from(u16::MAX)) {
        return Err(RecordError::Field("property longer than 65535 bytes"));
    }
    let total = encoded_len(msg) + props_len(extra.into_iter());
    if u32::try_from(total).is_err() {
        return Err(RecordError::Malformed("record longer than 4 GiB"));
    }
    let start = dst.len();
    dst.reserve(total);
    // The fixed part in one piece; the store fields, the CRC (sealed
    // below) and the store host ([::]:0) stay zero.
    let mut fixed = [0u8; RECORD_FIXED_LEN];
    fixed[..4].copy_from_slice(&(total as u32).to_be_bytes());
    fixed[4..8].copy_from_slice(&RECORD_MAGIC.to_be_bytes());
    fixed[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&born.flags.to_be_bytes());
    fixed[OFF_BORN_TS..OFF_BORN_TS + 8].copy_from_slice(&born.timestamp.to_be_bytes());
    fixed[OFF_BORN_HOST..OFF_BORN_HOST + HOST_LEN].copy_from_slice(&host_bytes(born.host));
    fixed[OFF_RECONSUME..OFF_RECONSUME + 4].copy_from_slice(&born.reconsume_times.to_be_bytes());
    dst.put_slice(&fixed);
    let topic = msg.topic.as_str().as_bytes();
    dst.put_u8(topic.len() as u8); // names are at most 127 bytes
    dst.put_slice(topic);
    dst.put_u16(tags.len() as u16);
    dst.put_slice(tags.as_bytes());
    dst.put_u16(keys_len(&msg.keys) as u16);
    for (i, k) in msg.keys.iter().enumerate() {
        if i > 0 {
            dst.put_u8(b' ');
        }
        dst.put_slice(k.as_bytes());
    }
    dst.put_u32(props_len(props()) as u32);
    for (k, v) in props() {
        dst.put_u16(k.len() as u16);
        dst.put_slice(k.as_bytes());
        dst.put_u16(v.len() as u16);
        dst.put_slice(v.as_bytes());
    }
    dst.put_u32(msg.body.len() as u32);
    dst.put_slice(&msg.body);
    debug_assert_eq!(dst.len() - start, total);
    seal(&mut dst[start..]);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::TopicName;
    use crate::record::decode;
    use crate::record::fixtures::{born, encoded, sample};

    #[test]
    fn the_fixed_part_is_laid_out_field_by_field() {
        let m = Message::new(TopicName::new("T").unwrap(), &b"xy"[..]);
        let born = BornInfo {
            timestamp: 0x0102_0304_0506_0708,
            host: "10.0.0.7:5555".parse().unwrap(),
            flags: 0x0A0B_0C0D,
            reconsume_times: 3,
        };
        let mut b = BytesMut::new();
        let total = encode(&m, born, 1 << 20, &mut b).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&(total as u32).to_be_bytes());
        want.extend_from_slice(&RECORD_MAGIC.to_be_bytes());
        want.extend_from_slice(&b[8..12]); // the CRC, checked by decoding
        want.extend_from_slice(&0x0A0B_0C0Du32.to_be_bytes());
        want.extend_from_slice(&[0; 4 + 8 + 8]); // queue id, queue and log offsets
        want.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        want.extend_from_slice(&[0; 8]); // store time
        want.extend_from_slice(&[0; 10]);
        want.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 7]); // IPv4-mapped
        want.extend_from_slice(&5555u16.to_be_bytes());
        want.extend_from_slice(&[0; HOST_LEN]); // store host [::]:0
        want.extend_from_slice(&3u32.to_be_bytes());
        assert_eq!(want.len(), RECORD_FIXED_LEN);
        assert_eq!(&b[..RECORD_FIXED_LEN], &want[..]);
        let d = decode(&b.freeze()).unwrap();
        assert_eq!(d.reconsume_times, 3);
        assert_eq!(&d.message.body[..], b"xy");
    }

    #[test]
    fn an_extra_property_encodes_as_if_it_were_in_the_map() {
        let m = sample();
        let mut with_extra = BytesMut::new();
        encode_with(
            &m,
            Some(("UNIQ_KEY", "ABC")),
            born(),
            1 << 20,
            &mut with_extra,
        )
        .unwrap();
        let in_map = m.clone().with_property("UNIQ_KEY", "ABC");
        let d = decode(&with_extra.freeze()).unwrap();
        assert_eq!(d.message, in_map);
        let r = decode(&encoded(&in_map).freeze()).unwrap();
        assert_eq!(d.stored_size, r.stored_size);
        let too_long = "x".repeat(70_000);
        let mut b = BytesMut::new();
        assert!(encode_with(&m, Some(("k", too_long.as_str())), born(), 1 << 20, &mut b).is_err());
        assert!(b.is_empty(), "nothing written on error");
    }

    #[test]
    fn oversized_body_is_refused_before_writing() {
        let m = Message::new(TopicName::new("t").unwrap(), vec![0u8; 100]);
        let mut b = BytesMut::new();
        assert!(matches!(
            encode(&m, born(), 99, &mut b),
            Err(RecordError::BodyTooLarge { len: 100, max: 99 })
        ));
        assert!(b.is_empty());
    }
}
