//! Consumers: the [`PullConsumer`], where the application polls and
//! commits explicitly, and the [`PushConsumer`] (module [`push`]), which
//! calls a listener, shares queues within a consumer group, retries failed
//! messages and can consume in order.

mod builder;
mod positions;
mod pull;
mod pull_consumer;
mod pull_task;
pub mod push;
mod watcher;

pub use builder::PullConsumerBuilder;
pub use pull_consumer::PullConsumer;
pub use push::{
    AllocateStrategy, ConsumeContext, ConsumeFromWhere, ConsumeResult, MessageListener,
    MessageModel, OrderlyListener, OrderlyResult, PushConsumer, PushConsumerBuilder,
};

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
