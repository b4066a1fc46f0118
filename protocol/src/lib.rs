//! FerroMQ's wire protocol and message record format, free of any I/O.
//!
//! Everything that crosses a socket or lands in a commit-log segment is defined
//! here, so the broker, the NameServer and the client share one definition and
//! one set of limits. Nothing in this crate opens a socket or needs a runtime;
//! the optional `codec` feature only adapts [`FrameCodec`] to tokio-util.
//!
//! # Frame layout
//!
//! Every frame on a connection is length-delimited:
//!
//! ```text
//! offset  size  field
//!      0     4  frame length L, big-endian u32, counting every byte after itself
//!      4     1  protocol version (1)
//!      5     1  flags: bit 0 = response, bit 1 = oneway (no response expected)
//!      6     2  code: a RequestCode on requests, a ResponseCode on responses
//!      8     8  request id; a response carries the id of its request
//!     16     4  header length H (at most MAX_HEADER_LEN)
//!     20     H  header: one postcard-encoded struct, chosen by the code
//!   20+H   L-16-H  body: raw bytes (message records for send and pull)
//! ```
//!
//! `L` is checked against the codec's maximum frame length before anything is
//! buffered, so a peer cannot make the reader allocate more than that.
//! Responses may come back in any order; the request id pairs them up.
//!
//! # Data flow
//!
//! A producer encodes its messages into [`record`] layout (CRC32C included) and
//! sends them as the body of a [`header::SendMessageRequest`]. The broker checks
//! each record, stamps the store fields (offsets, store time, store host),
//! re-seals the CRC and appends the bytes as they are. A pull response carries
//! the stored records back, again unchanged, and the consumer decodes them with
//! [`record::decode`]. Bodies may travel compressed (flagged in the record,
//! see [`compression`]); consumers restore them with
//! [`compression::decompress_message`].
//!
//! Queries (by key, unique id, commit-log offset, or queue offset by
//! timestamp; see [`header::QueryMessageRequest`]) answer with records the
//! same way: back to back in the body.

#![warn(missing_docs)]

mod checksum;
mod code;
pub mod compression;
mod crc_update;
mod error;
mod frame;
pub mod header;
mod ids;
mod limits;
mod names;
pub mod record;

#[cfg(feature = "codec")]
mod tokio_codec;

pub use checksum::crc32c;
pub use code::{RequestCode, ResponseCode};
pub use error::{CompressionError, FrameError, HeaderError, NameError, QueryError, RecordError};
pub use frame::{Frame, FrameCodec, FrameKind};
pub use header::{decode_header, encode_header, Rpc};
pub use ids::{CommitLogOffset, MessageId, QueueId, QueueOffset};
pub use limits::*;
pub use names::{BrokerName, ClusterName, GroupName, TopicName, MAX_NAME_LEN};
pub use record::{Message, StoredMessage};
