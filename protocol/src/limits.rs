//! Limits shared by every peer. Each length read from the wire is checked
//! against one of these before memory is allocated for it.

/// Protocol version written into every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// Default maximum frame length (everything after the length prefix).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Maximum size of the postcard header of one frame.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// Default maximum message body size (RocketMQ's `maxMessageSize`).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Fixed part of a frame after the length prefix: version, flags, code,
/// request id, header length.
pub const FRAME_FIXED_LEN: usize = 1 + 1 + 2 + 8 + 4;

/// Largest original size of a compressed message body that a reader
/// decompresses. Fixed rather than derived from a broker's
/// `max_message_size` (which a consumer does not know), so producer and
/// every consumer agree; producers refuse to send larger bodies.
pub const MAX_UNCOMPRESSED_BODY: usize = 64 * 1024 * 1024;
