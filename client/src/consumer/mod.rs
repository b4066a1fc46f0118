//! Consumers. Today the [`PullConsumer`]: the application polls and commits
//! explicitly. A push consumer (listener, rebalance within a group, retry
//! and dead-letter topics) will sit beside it and reuse the pull tasks and
//! offset tracking here.

mod builder;
mod positions;
mod pull_consumer;
mod pull_task;
mod watcher;

pub use builder::PullConsumerBuilder;
pub use pull_consumer::PullConsumer;

use ferromq_protocol::StoredMessage;

use crate::route::MessageQueue;

/// Where a group starts reading a queue it never committed an offset on.
/// A committed offset always wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsumeFrom {
    /// Only messages stored after the consumer looked (RocketMQ's
    /// `CONSUME_FROM_LAST_OFFSET`).
    #[default]
    LastOffset,
    /// The oldest message the broker still has.
    FirstOffset,
}

/// A polled message with the queue it came from (the message alone does
/// not name its broker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolledMessage {
    /// The queue, broker name included.
    pub queue: MessageQueue,
    /// The message.
    pub message: StoredMessage,
}
