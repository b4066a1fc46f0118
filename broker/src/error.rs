use thiserror::Error;

use ferromq_store::StoreError;

/// Why a broker could not start or stopped with an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The store failed to open or to shut down.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A state file or the listener failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Another broker process uses the same store directory.
    #[error("store directory {0} is locked by another broker process")]
    Locked(String),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A task the broker waited on panicked or was cancelled.
    #[error("{what} task failed: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// Cause.
        source: tokio::task::JoinError,
    },
}

impl BrokerError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
