use thiserror::Error;

/// A frame that cannot be read. Every variant means the connection's byte
/// stream can no longer be trusted, so readers close the connection.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the codec accepts.
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The frame is shorter than its own fixed header or header length says.
    #[error("truncated frame: {0}")]
    Truncated(&'static str),
    /// The frame's header length is over [`crate::MAX_HEADER_LEN`].
    #[error("frame header length {len} exceeds the maximum of {max} bytes")]
    HeaderTooLarge {
        /// Announced header length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// A protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// Reserved flag bits are set.
    #[error("invalid frame flags {0:#04x}")]
    InvalidFlags(u8),
    /// The underlying transport failed (only from the tokio codec adapter).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A header that does not decode as the struct its code calls for, or does
/// not encode.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Header bytes over [`crate::MAX_HEADER_LEN`].
    #[error("header of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Actual length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The bytes are not a valid encoding of the expected header.
    #[error("malformed header: {0}")]
    Malformed(#[from] postcard::Error),
}

/// A name (topic, group, broker, cluster) that fails validation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty string.
    #[error("{kind} name must not be empty")]
    Empty {
        /// What was being named.
        kind: &'static str,
    },
    /// Longer than [`crate::MAX_NAME_LEN`].
    #[error("{kind} name is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// What was being named.
        kind: &'static str,
        /// Actual length in bytes.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// A character outside `[%a-zA-Z0-9_-]`.
    #[error(
        "{kind} name {name:?} contains {ch:?}; only letters, digits, '%', '_' and '-' are allowed"
    )]
    InvalidChar {
        /// What was being named.
        kind: &'static str,
        /// The offending name (truncated to 64 characters).
        name: String,
        /// The first offending character.
        ch: char,
    },
}

/// A message record that fails validation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer bytes than the record needs.
    #[error("truncated record: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The magic number is not a message record's.
    #[error("bad record magic {0:#010x}")]
    BadMagic(u32),
    /// The stored checksum does not match the content.
    #[error("record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// CRC in the record.
        stored: u32,
        /// CRC of the content.
        computed: u32,
    },
    /// Inner lengths do not add up to the record's total size.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The record's body is larger than allowed.
    #[error("message body of {len} bytes exceeds the maximum of {max}")]
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The record names an invalid topic.
    #[error("invalid topic in record: {0}")]
    Topic(#[from] NameError),
    /// Property, key or tag strings are not UTF-8 or too long.
    #[error("invalid record field: {0}")]
    Field(&'static str),
}

/// A message query that can never match anything (see
/// [`crate::header::QueryBy::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The key is empty or holds a space: keys are stored space-separated,
    /// so such a key can never match.
    #[error("invalid key {0:?}: a key is non-empty and has no spaces")]
    InvalidKey(String),
    /// The time range ends before it begins.
    #[error("begin time {begin_ms} is after end time {end_ms}")]
    ReversedTimeRange {
        /// Earliest store time asked for.
        begin_ms: u64,
        /// Latest store time asked for.
        end_ms: u64,
    },
    /// The unique id is empty.
    #[error("the unique id is empty")]
    EmptyUniqueId,
}

/// A compressed message body that cannot be turned back into its original.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The body declares an original size over the reader's limit; refused
    /// before anything is allocated (a "decompression bomb").
    #[error("compressed body would decompress to {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// Declared original length.
        len: usize,
        /// The reader's limit.
        max: usize,
    },
    /// The compressed data is damaged or does not match its declared length.
    #[error("corrupt compressed body: {0}")]
    Corrupt(String),
    /// A compression codec this build cannot decode (the record's
    /// compression bits).
    #[error("unsupported body compression {0} in the record flags")]
    Unsupported(u32),
}
