//! What can go wrong on a connection.

use ferromq_protocol::{FrameError, HeaderError, ResponseCode};
use thiserror::Error;

/// A failed call on a [`crate::Connection`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RemotingError {
    /// Could not connect to the server.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Address dialled.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The connection broke or was closed while the call was in flight.
    #[error("connection to {0} closed")]
    ConnectionClosed(String),
    /// No response within the timeout.
    #[error("request to {addr} timed out after {millis} ms")]
    Timeout {
        /// Server address.
        addr: String,
        /// Timeout that elapsed.
        millis: u128,
    },
    /// The server answered with an error code.
    #[error("{addr} answered {code}: {message}")]
    Server {
        /// Server address.
        addr: String,
        /// Response code.
        code: ResponseCode,
        /// The server's explanation.
        message: String,
    },
    /// The server answered with a code this side does not know.
    #[error("{addr} answered unknown response code {code}")]
    UnknownResponseCode {
        /// Server address.
        addr: String,
        /// Raw code.
        code: u16,
    },
    /// A frame could not be encoded or decoded.
    #[error("frame error: {0}")]
    Frame(#[from] FrameError),
    /// A header could not be encoded or decoded.
    #[error("header error: {0}")]
    Header(#[from] HeaderError),
}

impl RemotingError {
    /// The server's response code, if the server answered with an error.
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Result alias of the remoting layer.
pub type Result<T, E = RemotingError> = std::result::Result<T, E>;
