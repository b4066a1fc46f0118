//! The client's error type. Callers react to three kinds: the caller's fault
//! (invalid argument, unknown topic), a retryable failure
//! ([`ClientError::is_retryable`]), and everything else.

use ferromq_protocol::{
    CompressionError, FrameError, HeaderError, NameError, RecordError, ResponseCode,
};
use thiserror::Error;

/// Everything that can go wrong in a client call.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Could not connect to a server.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Address dialled.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Recent dials to the address failed; until the backoff has passed,
    /// calls to it fail at once with this error instead of dialling again,
    /// so a producer moves on to another broker without waiting.
    #[error("not dialling {addr} again for {retry_in_ms} ms: the last dial failed ({cause})")]
    Backoff {
        /// Address not dialled.
        addr: String,
        /// Time until the next dial is allowed.
        retry_in_ms: u64,
        /// Why the last dial failed.
        cause: String,
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
    /// The server answered with a code this client does not know.
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
    /// A record from the server failed verification.
    #[error("corrupt record from the server: {0}")]
    Record(#[from] RecordError),
    /// A message body that cannot be decompressed (corrupt, or declaring
    /// more than [`ferromq_protocol::MAX_UNCOMPRESSED_BODY`]). Queries
    /// return it; consumers skip such a message with an error log.
    #[error("message body cannot be decompressed: {0}")]
    Compression(#[from] CompressionError),
    /// An invalid name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// No NameServer knows the topic.
    #[error("no route for topic {0} — create it with mqadmin updateTopic")]
    NoRoute(String),
    /// The topic has a route, but no broker with write permission and a
    /// live master.
    #[error("topic {0} has no writable queue: no broker with write permission and a live master")]
    NoWritableQueue(String),
    /// The route names a broker whose master is not alive.
    #[error("broker {0} has no live master")]
    BrokerUnavailable(String),
    /// Every NameServer failed.
    #[error("no NameServer reachable ({0})")]
    NameServerUnavailable(String),
    /// The caller passed something invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A broadcasting consumer's local offsets file cannot be read, parsed
    /// or written.
    #[error("local offsets file {}: {source}", path.display())]
    LocalOffsets {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: crate::consumer::push::LocalOffsetsError,
    },
    /// The client was shut down.
    #[error("client is shut down")]
    Shutdown,
    /// A background task of the client failed unexpectedly (a bug).
    #[error("internal client error: {0}")]
    Internal(String),
}

impl ClientError {
    /// The server's response code, if the server answered with an error.
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the call failed in transport (dial, broken connection, no
    /// answer in time), so the server may never have seen it. NameServer
    /// calls move on to the next NameServer on these; an error *response*
    /// is an answer and does not.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::Backoff { .. }
                | Self::ConnectionClosed(_)
                | Self::Timeout { .. }
                | Self::Frame(_)
        )
    }

    /// Whether retrying the same call on another broker may succeed (network
    /// trouble, overload), as opposed to errors that are the caller's fault.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Backoff { .. }
            | Self::ConnectionClosed(_)
            | Self::Timeout { .. }
            | Self::NoWritableQueue(_)
            | Self::BrokerUnavailable(_) => true,
            Self::Server { code, .. } => matches!(
                code,
                ResponseCode::SystemBusy
                    | ResponseCode::SystemError
                    | ResponseCode::ServiceNotAvailable
                    | ResponseCode::StoreError
                    | ResponseCode::DiskFull
                    | ResponseCode::SlaveNotAvailable
                    | ResponseCode::NoPermission
                    | ResponseCode::TopicNotExist
            ),
            _ => false,
        }
    }
}

impl ClientError {
    /// Whether a failed send says something is wrong with the *broker*
    /// (unreachable, broken connection, busy, store trouble), so the
    /// latency fault strategy should avoid it for a while. A stale route
    /// (`NoPermission` from a broker whose write permission was wiped,
    /// `TopicNotExist`) is not: the route refresh that follows fixes it.
    /// A timeout is judged by its latency instead.
    pub(crate) fn is_broker_fault(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Backoff { .. }
            | Self::ConnectionClosed(_)
            | Self::Frame(_)
            | Self::BrokerUnavailable(_) => true,
            Self::Server { code, .. } => matches!(
                code,
                ResponseCode::SystemBusy
                    | ResponseCode::SystemError
                    | ResponseCode::ServiceNotAvailable
                    | ResponseCode::StoreError
                    | ResponseCode::DiskFull
                    | ResponseCode::SlaveNotAvailable
            ),
            _ => false,
        }
    }

    /// The same error again, for reporting one failure to several callers
    /// (the messages of an automatically batched send). Variants holding a
    /// source that cannot be copied keep its kind and text.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Connect { addr, source } => Self::Connect {
                addr: addr.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Self::Backoff {
                addr,
                retry_in_ms,
                cause,
            } => Self::Backoff {
                addr: addr.clone(),
                retry_in_ms: *retry_in_ms,
                cause: cause.clone(),
            },
            Self::ConnectionClosed(a) => Self::ConnectionClosed(a.clone()),
            Self::Timeout { addr, millis } => Self::Timeout {
                addr: addr.clone(),
                millis: *millis,
            },
            Self::Server {
                addr,
                code,
                message,
            } => Self::Server {
                addr: addr.clone(),
                code: *code,
                message: message.clone(),
            },
            Self::UnknownResponseCode { addr, code } => Self::UnknownResponseCode {
                addr: addr.clone(),
                code: *code,
            },
            Self::Record(e) => Self::Record(e.clone()),
            Self::Compression(e) => Self::Compression(e.clone()),
            Self::Name(e) => Self::Name(e.clone()),
            Self::NoRoute(t) => Self::NoRoute(t.clone()),
            Self::NoWritableQueue(t) => Self::NoWritableQueue(t.clone()),
            Self::BrokerUnavailable(b) => Self::BrokerUnavailable(b.clone()),
            Self::NameServerUnavailable(m) => Self::NameServerUnavailable(m.clone()),
            Self::InvalidArgument(m) => Self::InvalidArgument(m.clone()),
            Self::LocalOffsets { path, source } => Self::LocalOffsets {
                path: path.clone(),
                source: source.duplicate(),
            },
            Self::Shutdown => Self::Shutdown,
            Self::Internal(m) => Self::Internal(m.clone()),
            Self::Frame(_) | Self::Header(_) => Self::Internal(self.to_string()),
        }
    }
}

impl From<ferromq_remoting::RemotingError> for ClientError {
    fn from(e: ferromq_remoting::RemotingError) -> Self {
        use ferromq_remoting::RemotingError as R;
        match e {
            R::Connect { addr, source } => Self::Connect { addr, source },
            R::ConnectionClosed(addr) => Self::ConnectionClosed(addr),
            R::Timeout { addr, millis } => Self::Timeout { addr, millis },
            R::Server {
                addr,
                code,
                message,
            } => Self::Server {
                addr,
                code,
                message,
            },
            R::UnknownResponseCode { addr, code } => Self::UnknownResponseCode { addr, code },
            R::Frame(e) => Self::Frame(e),
            R::Header(e) => Self::Header(e),
            // A variant added later: keep its text.
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Result alias of the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
