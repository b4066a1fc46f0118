//! Verifying a record and borrowing its fields, the reader's side of the
//! layout. Everything here is total: any input gives a value or a
//! [`RecordError`], never a panic.

use std::net::SocketAddr;

use super::{
    be32, be64, read_host, END_OF_SEGMENT_MAGIC, MIN_RECORD_LEN, OFF_BORN_HOST, OFF_BORN_TS,
    OFF_CRC, OFF_FLAGS, OFF_PHYS_OFFSET, OFF_QUEUE_ID, OFF_QUEUE_OFFSET, OFF_RECONSUME,
    OFF_STORE_HOST, OFF_STORE_TS, RECORD_FIXED_LEN, RECORD_MAGIC,
};
use crate::error::RecordError;
use crate::ids::{CommitLogOffset, QueueId, QueueOffset};
use crate::names::TopicName;

/// What the front of a buffer holds, judged from its first 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peek {
    /// Fewer than 8 bytes.
    NeedMore,
    /// A message record of this many bytes (not yet verified).
    Record(usize),
    /// An end-of-segment marker saying this many bytes, itself included,
    /// are left in the segment.
    EndOfSegment(usize),
    /// Neither: zeroes (unwritten space) or garbage.
    Invalid(u32),
}

/// Looks at the size and magic at the front of `buf` without verifying.
pub fn peek(buf: &[u8]) -> Peek {
    if buf.len() < 8 {
        return Peek::NeedMore;
    }
    let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    match u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) {
        RECORD_MAGIC => Peek::Record(size),
        END_OF_SEGMENT_MAGIC => Peek::EndOfSegment(size),
        other => Peek::Invalid(other),
    }
}

/// A verified record, borrowed from the buffer it lives in.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// Total size in bytes.
    pub size: usize,
    /// Flags.
    pub flags: u32,
    /// Queue id.
    pub queue_id: QueueId,
    /// Queue offset.
    pub queue_offset: QueueOffset,
    /// Commit-log offset.
    pub commit_log_offset: CommitLogOffset,
    /// Born timestamp.
    pub born_timestamp: u64,
    /// Store timestamp.
    pub store_timestamp: u64,
    /// Reconsume times.
    pub reconsume_times: u32,
    /// Topic (validated).
    pub topic: &'a str,
    /// Tags ("" if none).
    pub tags: &'a str,
    /// Keys separated by spaces ("" if none).
    pub keys: &'a str,
    raw: &'a [u8],
    props: (usize, usize),
    /// Range of the body in `raw`: `decode` slices it out of a `Bytes`.
    pub(super) body: (usize, usize),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<(usize, usize), RecordError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(RecordError::Malformed(what))?;
        let r = (self.pos, end);
        self.pos = end;
        Ok(r)
    }
    fn len_u8(&mut self, what: &'static str) -> Result<usize, RecordError> {
        let (s, _) = self.take(1, what)?;
        Ok(usize::from(self.buf[s]))
    }
    fn len_u16(&mut self, what: &'static str) -> Result<usize, RecordError> {
        let (s, _) = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([
            self.buf[s],
            self.buf[s + 1],
        ])))
    }
    fn len_u32(&mut self, what: &'static str) -> Result<usize, RecordError> {
        let (s, _) = self.take(4, what)?;
        Ok(be32(&self.buf[s..]) as usize)
    }
    fn str(&mut self, n: usize, what: &'static str) -> Result<&'a str, RecordError> {
        let (s, e) = self.take(n, what)?;
        std::str::from_utf8(&self.buf[s..e]).map_err(|_| RecordError::Field(what))
    }
}

/// Verifies the record at the front of `buf` (size, magic, CRC, inner
/// lengths, topic name) and returns a view of it.
///
/// # Errors
/// [`RecordError`] saying what is wrong; never panics on any input.
pub fn parse(buf: &[u8]) -> Result<RecordRef<'_>, RecordError> {
    let size = match peek(buf) {
        Peek::NeedMore => {
            return Err(RecordError::Truncated {
                need: 8,
                have: buf.len(),
            })
        }
        Peek::Record(size) => size,
        Peek::EndOfSegment(_) => return Err(RecordError::BadMagic(END_OF_SEGMENT_MAGIC)),
        Peek::Invalid(m) => return Err(RecordError::BadMagic(m)),
    };
    if size < MIN_RECORD_LEN {
        return Err(RecordError::Malformed("record size below the minimum"));
    }
    if buf.len() < size {
        return Err(RecordError::Truncated {
            need: size,
            have: buf.len(),
        });
    }
    let raw = &buf[..size];
    let stored = be32(&raw[OFF_CRC..]);
    let computed = crate::crc32c(&raw[OFF_CRC + 4..]);
    if stored != computed {
        return Err(RecordError::BadCrc { stored, computed });
    }
    let mut c = Cursor {
        buf: raw,
        pos: RECORD_FIXED_LEN,
    };
    let n = c.len_u8("topic length")?;
    let topic = c.str(n, "topic")?;
    TopicName::check(topic)?;
    let n = c.len_u16("tags length")?;
    let tags = c.str(n, "tags")?;
    let n = c.len_u16("keys length")?;
    let keys = c.str(n, "keys")?;
    let n = c.len_u32("properties length")?;
    let props = c.take(n, "properties")?;
    check_props(&raw[props.0..props.1])?;
    let n = c.len_u32("body length")?;
    let body = c.take(n, "body")?;
    if c.pos != size {
        return Err(RecordError::Malformed(
            "fields do not add up to the record size",
        ));
    }
    Ok(RecordRef {
        size,
        flags: be32(&raw[OFF_FLAGS..]),
        queue_id: QueueId::new(be32(&raw[OFF_QUEUE_ID..])),
        queue_offset: QueueOffset::new(be64(&raw[OFF_QUEUE_OFFSET..])),
        commit_log_offset: CommitLogOffset::new(be64(&raw[OFF_PHYS_OFFSET..])),
        born_timestamp: be64(&raw[OFF_BORN_TS..]),
        store_timestamp: be64(&raw[OFF_STORE_TS..]),
        reconsume_times: be32(&raw[OFF_RECONSUME..]),
        topic,
        tags,
        keys,
        raw,
        props,
        body,
    })
}

fn check_props(mut b: &[u8]) -> Result<(), RecordError> {
    while !b.is_empty() {
        for _ in 0..2 {
            if b.len() < 2 {
                return Err(RecordError::Malformed("property length"));
            }
            let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
            if b.len() < 2 + n {
                return Err(RecordError::Malformed("property"));
            }
            std::str::from_utf8(&b[2..2 + n]).map_err(|_| RecordError::Field("property"))?;
            b = &b[2 + n..];
        }
    }
    Ok(())
}

impl<'a> RecordRef<'a> {
    /// Born host.
    pub fn born_host(&self) -> SocketAddr {
        read_host(&self.raw[OFF_BORN_HOST..])
    }
    /// Store host.
    pub fn store_host(&self) -> SocketAddr {
        read_host(&self.raw[OFF_STORE_HOST..])
    }
    /// The body bytes.
    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.body.0..self.body.1]
    }
    /// The whole record.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// Iterates over the properties.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let mut b = &self.raw[self.props.0..self.props.1];
        std::iter::from_fn(move || {
            // `parse` checked the layout and UTF-8 of every pair.
            let mut next = || {
                let n = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
                let s = std::str::from_utf8(b.get(2..2 + n)?).ok()?;
                b = &b[2 + n..];
                Some(s)
            };
            Some((next()?, next()?))
        })
    }
    /// A property by key.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        self.properties().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    /// Hash of the tags, as stored in consume-queue entries.
    pub fn tag_hash(&self) -> u64 {
        tag_hash(self.tags)
    }
}

/// Stable 64-bit hash of a tag (FNV-1a); 0 for no tag.
pub fn tag_hash(tags: &str) -> u64 {
    if tags.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tags.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::{encoded, sample};
    use crate::record::{seal, Message};

    #[test]
    fn every_flipped_byte_is_caught() {
        let good = encoded(&sample());
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            assert!(parse(&b).is_err(), "flip at {i} went unnoticed");
        }
    }

    #[test]
    fn truncation_is_typed() {
        let good = encoded(&sample());
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err());
        }
        assert!(matches!(
            parse(&good[..20]),
            Err(RecordError::Truncated { .. })
        ));
    }

    #[test]
    fn bad_crc_is_typed() {
        let mut b = encoded(&sample());
        let n = b.len();
        b[n - 1] ^= 1;
        assert!(matches!(parse(&b), Err(RecordError::BadCrc { .. })));
    }

    #[test]
    fn sealed_record_with_bad_topic_is_rejected() {
        let mut b = encoded(&Message::new(TopicName::new("ab").unwrap(), &b"x"[..]));
        b[RECORD_FIXED_LEN + 1] = b'.';
        seal(&mut b);
        assert!(matches!(parse(&b), Err(RecordError::Topic(_))));
    }

    #[test]
    fn end_of_segment_marker_is_told_apart() {
        let m = crate::record::end_of_segment(4096);
        assert_eq!(peek(&m), Peek::EndOfSegment(4096));
        assert!(matches!(parse(&m), Err(RecordError::BadMagic(_))));
        assert_eq!(
            peek(&encoded(&sample())),
            Peek::Record(encoded(&sample()).len())
        );
    }

    #[test]
    fn tag_hash_is_stable() {
        assert_eq!(tag_hash(""), 0);
        assert_eq!(tag_hash("TagA"), tag_hash("TagA"));
        assert_ne!(tag_hash("TagA"), tag_hash("TagB"));
    }
}
