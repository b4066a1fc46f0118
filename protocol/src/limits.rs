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
