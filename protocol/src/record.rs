//! The message record: the one byte layout a message has from the producer's
//! buffer to the commit-log segment and back out to the consumer.
//!
//! ```text
//! offset size  field
//!      0    4  total size of the record, this field included (u32, big-endian)
//!      4    4  magic (RECORD_MAGIC)
//!      8    4  CRC32C of bytes [12, total size)
//!     12    4  flags (bits 0-1: body compression, see COMPRESSION_*)
//!     16    4  queue id                 \
//!     20    8  queue offset              |  stamped by the broker on
//!     28    8  physical (commit log) offset  append; the CRC is updated
//!     36    8  born timestamp, ms since the epoch (set by the producer)
//!     44    8  store timestamp, ms       |
//!     52   18  born host: IPv6 (IPv4-mapped) address, u16 port
//!     70   18  store host               /
//!     88    4  reconsume times
//!     92    1  topic length T, then T bytes of topic
//!           2  tags length, then the tags string (UTF-8)
//!           2  keys length, then the keys (UTF-8, separated by spaces)
//!           4  properties length, then pairs of (u16 len, key, u16 len, value)
//!           4  body length, then the body
//! ```
//!
//! The CRC covers everything after itself, so a torn write anywhere in the
//! record is caught; the broker updates it for the store fields it stamps
//! (`crate::crc_update`), without reading the body again.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::RecordError;
use crate::ids::{CommitLogOffset, MessageId, QueueId, QueueOffset};
use crate::names::TopicName;

/// Magic number of a message record.
pub const RECORD_MAGIC: u32 = 0xFE4D_5101;
/// Magic number of the marker that ends a commit-log segment early.
pub const END_OF_SEGMENT_MAGIC: u32 = 0xFE4D_51FF;
/// Bytes before the topic: everything up to and including reconsume times.
pub const RECORD_FIXED_LEN: usize = 92;
/// Smallest possible record (one-byte topic, everything else empty).
pub const MIN_RECORD_LEN: usize = RECORD_FIXED_LEN + 1 + 1 + 2 + 2 + 4 + 4;

/// Body is uncompressed.
pub const COMPRESSION_NONE: u32 = 0;
/// Body is zstd-compressed (reserved: nothing writes it yet, readers
/// refuse it as unsupported).
pub const COMPRESSION_ZSTD: u32 = 1;
/// Body is lz4-compressed, in the layout of [`crate::compression`].
pub const COMPRESSION_LZ4: u32 = 2;
/// Mask of the compression bits in the flags.
pub const COMPRESSION_MASK: u32 = 0b11;

/// Property holding the producer-generated unique message id.
pub const PROPERTY_UNIQ_KEY: &str = "UNIQ_KEY";

const OFF_CRC: usize = 8;
const OFF_FLAGS: usize = 12;
const OFF_QUEUE_ID: usize = 16;
const OFF_QUEUE_OFFSET: usize = 20;
const OFF_PHYS_OFFSET: usize = 28;
const OFF_BORN_TS: usize = 36;
const OFF_STORE_TS: usize = 44;
const OFF_BORN_HOST: usize = 52;
const OFF_STORE_HOST: usize = 70;
const OFF_RECONSUME: usize = 88;
const HOST_LEN: usize = 18;

/// A message as an application builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: TopicName,
    /// Optional tag, used for broker-side filtering.
    pub tags: Option<String>,
    /// Business keys, indexed for lookup.
    pub keys: Vec<String>,
    /// User properties.
    pub properties: BTreeMap<String, String>,
    /// Payload.
    pub body: Bytes,
}

impl Message {
    /// A message with a body and nothing else.
    pub fn new(topic: TopicName, body: impl Into<Bytes>) -> Self {
        Self {
            topic,
            tags: None,
            keys: Vec::new(),
            properties: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// Sets the tag.
    #[must_use]
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Adds a key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Sets a user property.
    #[must_use]
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }
}

/// A message as stored by a broker, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The message's own fields.
    pub message: Message,
    /// Record flags.
    pub flags: u32,
    /// Queue the message is in.
    pub queue_id: QueueId,
    /// Position in that queue.
    pub queue_offset: QueueOffset,
    /// Position in the broker's commit log.
    pub commit_log_offset: CommitLogOffset,
    /// Size of the stored record in bytes.
    pub stored_size: u32,
    /// When the producer created it (ms since the epoch).
    pub born_timestamp: u64,
    /// When the broker stored it (ms since the epoch).
    pub store_timestamp: u64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Broker address.
    pub store_host: SocketAddr,
    /// How often it has been redelivered.
    pub reconsume_times: u32,
}

impl StoredMessage {
    /// The offset message id (store host + commit-log offset).
    pub fn msg_id(&self) -> MessageId {
        MessageId::new(self.store_host, self.commit_log_offset)
    }

    /// The producer-assigned unique id, if any.
    pub fn unique_id(&self) -> Option<&str> {
        self.message
            .properties
            .get(PROPERTY_UNIQ_KEY)
            .map(String::as_str)
    }
}

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

/// Fields the broker stamps when it appends a record.
#[derive(Clone, Copy, Debug)]
pub struct StoreStamp {
    /// Queue the record goes to.
    pub queue_id: QueueId,
    /// Its position in that queue.
    pub queue_offset: QueueOffset,
    /// Its position in the commit log.
    pub commit_log_offset: CommitLogOffset,
    /// Store time, ms since the epoch.
    pub timestamp: u64,
    /// The broker's address.
    pub host: SocketAddr,
}

fn host_bytes(addr: SocketAddr) -> [u8; HOST_LEN] {
    let v6 = match addr.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let mut b = [0u8; HOST_LEN];
    b[..16].copy_from_slice(&v6.octets());
    b[16..].copy_from_slice(&addr.port().to_be_bytes());
    b
}

fn read_host(b: &[u8]) -> SocketAddr {
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&b[..16]);
    let v6 = Ipv6Addr::from(ip);
    let ip = match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    };
    SocketAddr::new(ip, u16::from_be_bytes([b[16], b[17]]))
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

/// Recomputes the CRC of a whole record in place.
pub fn seal(record: &mut [u8]) {
    let crc = crate::crc32c(&record[OFF_CRC + 4..]);
    record[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Writes the broker's store fields into a checked record and updates its
/// CRC for the changed bytes only (see `crc_update`): no pass over the
/// body, and a record whose CRC was wrong before stays wrong.
pub fn stamp(record: &mut [u8], s: &StoreStamp) {
    const FROM: usize = OFF_CRC + 4;
    let mut before = [0u8; OFF_RECONSUME - FROM];
    before.copy_from_slice(&record[FROM..OFF_RECONSUME]);
    record[OFF_QUEUE_ID..OFF_QUEUE_ID + 4].copy_from_slice(&s.queue_id.get().to_be_bytes());
    record[OFF_QUEUE_OFFSET..OFF_QUEUE_OFFSET + 8]
        .copy_from_slice(&s.queue_offset.get().to_be_bytes());
    record[OFF_PHYS_OFFSET..OFF_PHYS_OFFSET + 8]
        .copy_from_slice(&s.commit_log_offset.get().to_be_bytes());
    record[OFF_STORE_TS..OFF_STORE_TS + 8].copy_from_slice(&s.timestamp.to_be_bytes());
    record[OFF_STORE_HOST..OFF_STORE_HOST + HOST_LEN].copy_from_slice(&host_bytes(s.host));
    let crc = be32(&record[OFF_CRC..]);
    let crc = crate::crc_update::update(
        crc,
        record.len() - FROM,
        0,
        &before,
        &record[FROM..OFF_RECONSUME],
    );
    record[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// What the front of a buffer holds, judged from its first 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peek {
    /// Fewer than 8 bytes.
    NeedMore,
    /// A message record of this many bytes (not yet verified).
    Record(usize),
    /// An end-of-segment marker.
    EndOfSegment,
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
        END_OF_SEGMENT_MAGIC => Peek::EndOfSegment,
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
    body: (usize, usize),
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

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
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
        Peek::EndOfSegment => return Err(RecordError::BadMagic(END_OF_SEGMENT_MAGIC)),
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

/// Verifies and decodes the record at the front of `buf`; the body shares
/// `buf`'s memory.
///
/// # Errors
/// As [`parse`].
pub fn decode(buf: &Bytes) -> Result<StoredMessage, RecordError> {
    let r = parse(buf)?;
    let body = buf.slice(r.body.0..r.body.1);
    let message = Message {
        topic: TopicName::new(r.topic)?,
        tags: (!r.tags.is_empty()).then(|| r.tags.to_string()),
        keys: r
            .keys
            .split(' ')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        properties: r
            .properties()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
    };
    Ok(StoredMessage {
        message,
        flags: r.flags,
        queue_id: r.queue_id,
        queue_offset: r.queue_offset,
        commit_log_offset: r.commit_log_offset,
        stored_size: r.size as u32,
        born_timestamp: r.born_timestamp,
        store_timestamp: r.store_timestamp,
        born_host: r.born_host(),
        store_host: r.store_host(),
        reconsume_times: r.reconsume_times,
    })
}

/// Decodes every record of a buffer of back-to-back records (a pull body).
///
/// # Errors
/// The first record that fails to verify.
pub fn decode_all(buf: &Bytes) -> Result<Vec<StoredMessage>, RecordError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = buf.slice(pos..);
        let m = decode(&rest)?;
        pos += m.stored_size as usize;
        out.push(m);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn born() -> BornInfo {
        BornInfo {
            timestamp: 1_700_000_000_000,
            host: "10.0.0.7:5555".parse().unwrap(),
            flags: 0,
            reconsume_times: 0,
        }
    }

    fn sample() -> Message {
        Message::new(TopicName::new("TopicTest").unwrap(), &b"hello"[..])
            .with_tags("TagA")
            .with_key("order-1")
            .with_key("user-9")
            .with_property("a", "1")
    }

    fn encoded(m: &Message) -> BytesMut {
        let mut b = BytesMut::new();
        encode(m, born(), 1 << 20, &mut b).unwrap();
        b
    }

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
    fn stamp_then_decode() {
        let mut b = encoded(&sample());
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        stamp(
            &mut b,
            &StoreStamp {
                queue_id: QueueId::new(3),
                queue_offset: QueueOffset::new(77),
                commit_log_offset: CommitLogOffset::new(4096),
                timestamp: 1_700_000_000_123,
                host,
            },
        );
        let m = decode(&b.freeze()).unwrap();
        assert_eq!(m.message, sample());
        assert_eq!(m.queue_id, QueueId::new(3));
        assert_eq!(m.queue_offset, QueueOffset::new(77));
        assert_eq!(m.commit_log_offset, CommitLogOffset::new(4096));
        assert_eq!(m.store_host, host);
        assert_eq!(m.born_host, born().host);
        assert_eq!(m.msg_id().to_string().len(), 32);
    }

    /// Stamping updates the CRC exactly as a full reseal would, twice in a
    /// row too (a record stamped again on a send-back), and a record that
    /// was corrupt before stamping is still caught after.
    #[test]
    fn stamping_keeps_good_records_good_and_bad_ones_bad() {
        let s = |q: u64| StoreStamp {
            queue_id: QueueId::new(5),
            queue_offset: QueueOffset::new(q),
            commit_log_offset: CommitLogOffset::new(q.wrapping_mul(1000) + 7),
            timestamp: 1_700_000_000_000 + q,
            host: "[2001:db8::1]:10911".parse().unwrap(),
        };
        let mut b = encoded(&sample());
        for q in [1, u64::MAX / 3] {
            stamp(&mut b, &s(q));
            let mut resealed = b.clone();
            seal(&mut resealed);
            assert_eq!(b, resealed, "stamp {q}");
            assert!(parse(&b).is_ok());
        }
        let good = encoded(&sample());
        for i in [RECORD_FIXED_LEN + 3, good.len() - 1, OFF_BORN_TS] {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            stamp(&mut bad, &s(9));
            assert!(parse(&bad).is_err(), "corruption at {i} laundered by stamp");
        }
    }

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
    fn oversized_body_is_refused_before_writing() {
        let m = Message::new(TopicName::new("t").unwrap(), vec![0u8; 100]);
        let mut b = BytesMut::new();
        assert!(matches!(
            encode(&m, born(), 99, &mut b),
            Err(RecordError::BodyTooLarge { len: 100, max: 99 })
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn sealed_record_with_bad_topic_is_rejected() {
        let mut b = encoded(&Message::new(TopicName::new("ab").unwrap(), &b"x"[..]));
        b[RECORD_FIXED_LEN + 1] = b'.';
        seal(&mut b);
        assert!(matches!(parse(&b), Err(RecordError::Topic(_))));
    }

    #[test]
    fn tag_hash_is_stable() {
        assert_eq!(tag_hash(""), 0);
        assert_eq!(tag_hash("TagA"), tag_hash("TagA"));
        assert_ne!(tag_hash("TagA"), tag_hash("TagB"));
    }

    proptest! {
        #[test]
        fn round_trip(topic in "[a-zA-Z0-9_%-]{1,127}", tags in proptest::option::of("[a-zA-Z]{1,20}"),
                      keys in proptest::collection::vec("[a-z0-9]{1,10}", 0..4),
                      props in proptest::collection::btree_map("[a-z]{1,8}", ".{0,16}", 0..5),
                      body in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let m = Message { topic: TopicName::new(topic).unwrap(), tags, keys, properties: props, body: body.into() };
            let mut b = encoded(&m);
            prop_assert_eq!(b.len(), encoded_len(&m));
            let second = encoded(&m);
            b.extend_from_slice(&second);
            let all = decode_all(&b.freeze()).unwrap();
            prop_assert_eq!(all.len(), 2);
            prop_assert_eq!(&all[0].message, &m);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
            let _ = decode_all(&Bytes::from(bytes));
        }
    }
}
