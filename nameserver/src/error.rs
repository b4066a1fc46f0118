//! Errors of the NameServer library.

use thiserror::Error;

/// Why the NameServer could not run. Requests never produce one of these:
/// a bad request is answered with an error response and the server carries on.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NameServerError {
    /// A setting is out of range.
    #[error("invalid NameServer configuration: {0}")]
    InvalidConfig(&'static str),
}
