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
//!
//! This module is the only place that knows the layout. By role:
//! [`Message`] and [`StoredMessage`] are what applications see; [`encode()`]
//! writes a sealed record and [`end_of_segment`] the marker that closes a
//! segment early; [`stamp()`] and [`seal`] change one in place; [`peek`]
//! and [`parse()`] verify one and borrow its fields ([`RecordRef`]);
//! [`decode()`] turns one into a [`StoredMessage`]; and [`raw`] reads single
//! fields of records that are verified elsewhere, without a CRC pass.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

mod decode;
mod encode;
mod parse;
pub mod raw;
mod stamp;
mod types;

#[cfg(test)]
mod fixtures;

pub use decode::{decode, decode_all};
pub use encode::{encode, encode_with, encoded_len, end_of_segment, BornInfo};
pub use parse::{parse, peek, tag_hash, Peek, RecordRef};
pub use stamp::{seal, stamp, StoreStamp};
pub use types::{Message, StoredMessage};

/// Magic number of a message record.
pub const RECORD_MAGIC: u32 = 0xFE4D_5101;
/// Magic number of the marker that ends a commit-log segment early.
pub const END_OF_SEGMENT_MAGIC: u32 = 0xFE4D_51FF;
/// Bytes of that marker: u32 bytes left in the segment (the marker
/// included) where a record has its size, then [`END_OF_SEGMENT_MAGIC`]
/// where a record has its magic, so [`peek`] tells the two apart.
pub const END_OF_SEGMENT_LEN: usize = 8;
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

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}
