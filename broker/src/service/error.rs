//! Why a broker service call failed. A variant is a reaction the caller
//! can take (handlers turn each into one response code, in
//! `handlers/reply.rs`); its message is what the client is told.

use std::time::Duration;

use ferromq_protocol::{BrokerName, TopicName};
use ferromq_store::{AppendError, StoreError};
use thiserror::Error;
use tokio::task::JoinError;

use crate::groups::SubscriptionGroupError;
use crate::topics::TopicConfigError;

/// A failed broker service call.
#[derive(Debug, Error)]
pub(crate) enum ServiceError {
    /// The topic does not exist here (and is not created on first send).
    #[error(
        "topic {topic} does not exist on broker {broker} — create it with mqadmin updateTopic"
    )]
    TopicNotExist {
        topic: TopicName,
        broker: BrokerName,
    },
    /// The broker, the topic or the group does not allow the operation.
    #[error("{0}")]
    NoPermission(String),
    /// An argument is out of range or malformed (a queue, a setting, a
    /// client id); nothing changed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The records cannot be stored as they are.
    #[error("{0}")]
    MessageIllegal(String),
    /// No message where the request points.
    #[error("{0}")]
    NotFound(String),
    /// A limit is reached or the store's write queue is full; nothing
    /// changed, try again later.
    #[error("{0}")]
    Busy(&'static str),
    /// A device write is stalling; the records were withdrawn, nothing was
    /// written.
    #[error("the broker's store did not reach this message within {} ms (a disk write is stalling); nothing was written, try again", .0.as_millis())]
    Stalled(Duration),
    /// The store refuses writes after a disk error, until restart.
    #[error("the store refuses writes after a disk error ({0}); restart the broker after fixing the disk")]
    Poisoned(String),
    /// The disk is fuller than the reject ratio; reads go on.
    #[error("disk full: {0}; sends are refused until retention frees space, reads go on")]
    DiskFull(String),
    /// Sync replication: fewer replicas in sync than the minimum; nothing
    /// was stored.
    #[error("{0}")]
    SlaveNotAvailable(String),
    /// The broker is shutting down.
    #[error("broker is shutting down")]
    ShuttingDown,
    /// A state file of the broker could not be written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The store failed a read, a lookup or a deletion.
    #[error("{context}: {source}")]
    Store { context: String, source: StoreError },
    /// The store failed an append in a way not listed above.
    #[error(transparent)]
    Append(AppendError),
    /// Work moved off the runtime panicked or was cancelled.
    #[error("{what} task failed: {source}")]
    Task {
        what: &'static str,
        source: JoinError,
    },
}

impl ServiceError {
    /// A topic change that failed: a bad setting, or its file.
    pub(super) fn topic_change(context: String, e: TopicConfigError) -> Self {
        match e {
            TopicConfigError::Io(source) => Self::Io { context, source },
            invalid => Self::InvalidArgument(format!("{context}: {invalid}")),
        }
    }

    /// A subscription-group change that failed: a bad setting or the
    /// cap, or its file.
    pub(super) fn group_change(context: String, e: SubscriptionGroupError) -> Self {
        match e {
            SubscriptionGroupError::Io(source) => Self::Io { context, source },
            invalid => Self::InvalidArgument(format!("{context}: {invalid}")),
        }
    }
}

impl From<AppendError> for ServiceError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Invalid(m) => Self::MessageIllegal(m),
            AppendError::Poisoned(m) => Self::Poisoned(m),
            AppendError::ShuttingDown => Self::ShuttingDown,
            AppendError::DiskFull(m) => Self::DiskFull(m),
            AppendError::Busy => Self::Busy("broker is busy; try again"),
            AppendError::Stalled(after) => Self::Stalled(after),
            AppendError::WrongRole(role) => Self::NoPermission(format!(
                "this broker's store is a {role}: send to the group's master"
            )),
            other => Self::Append(other),
        }
    }
}
