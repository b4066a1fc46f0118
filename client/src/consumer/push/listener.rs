//! What the application plugs into a [`super::PushConsumer`]: a concurrent
//! or an orderly listener, and how they are called (on Tokio's blocking
//! pool, so a listener may block; a panic counts as a failure).

use std::sync::Arc;

use ferromq_protocol::StoredMessage;
use tracing::error;

use crate::route::MessageQueue;

/// The outcome of a concurrent listener call, for every message of the
/// batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Processed; the messages are done.
    Success,
    /// Not processed; deliver the messages again later (through the
    /// group's retry topic, with a growing delay).
    RetryLater,
}

impl<T, E> From<Result<T, E>> for ConsumeResult {
    /// `Ok` is [`ConsumeResult::Success`], `Err` is
    /// [`ConsumeResult::RetryLater`], so a listener can end with
    /// `handle(msgs).into()`.
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(_) => Self::Success,
            Err(_) => Self::RetryLater,
        }
    }
}

/// The outcome of an orderly listener call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderlyResult {
    /// Processed; the queue moves on to the next message.
    Success,
    /// Not processed; the queue stops for a moment and the same messages
    /// are offered again (up to the max reconsume times, then they go to
    /// the dead-letter topic).
    SuspendCurrentQueueAMoment,
}

impl<T, E> From<Result<T, E>> for OrderlyResult {
    /// `Ok` is [`OrderlyResult::Success`], `Err` is
    /// [`OrderlyResult::SuspendCurrentQueueAMoment`].
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(_) => Self::Success,
            Err(_) => Self::SuspendCurrentQueueAMoment,
        }
    }
}

/// Where a batch of messages comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumeContext {
    /// The queue the messages were pulled from. For redelivered messages
    /// this is a queue of the group's retry topic, while each message's
    /// `topic` is the one it was first sent to.
    pub queue: MessageQueue,
}

/// Processes messages of any queue, several batches at once. Closures
/// `Fn(&[StoredMessage]) -> ConsumeResult` implement it; implement it on
/// your own type to see the [`ConsumeContext`].
///
/// Called on a blocking thread: blocking I/O is fine. A panic counts as
/// [`ConsumeResult::RetryLater`].
pub trait MessageListener: Send + Sync + 'static {
    /// Processes `msgs` (at most the consume batch size, all from one
    /// queue, in queue order).
    fn consume(&self, msgs: &[StoredMessage], ctx: &ConsumeContext) -> ConsumeResult;
}

impl<F> MessageListener for F
where
    F: Fn(&[StoredMessage]) -> ConsumeResult + Send + Sync + 'static,
{
    fn consume(&self, msgs: &[StoredMessage], _ctx: &ConsumeContext) -> ConsumeResult {
        self(msgs)
    }
}

/// Processes the messages of each queue strictly one batch after another,
/// in queue order, while this consumer holds the queue's lock. Closures
/// `Fn(&[StoredMessage]) -> OrderlyResult` implement it.
///
/// Called on a blocking thread. A panic counts as
/// [`OrderlyResult::SuspendCurrentQueueAMoment`].
pub trait OrderlyListener: Send + Sync + 'static {
    /// Processes `msgs` (at most the consume batch size, from one queue).
    fn consume(&self, msgs: &[StoredMessage], ctx: &ConsumeContext) -> OrderlyResult;
}

impl<F> OrderlyListener for F
where
    F: Fn(&[StoredMessage]) -> OrderlyResult + Send + Sync + 'static,
{
    fn consume(&self, msgs: &[StoredMessage], _ctx: &ConsumeContext) -> OrderlyResult {
        self(msgs)
    }
}

/// The listener a consumer was built with.
#[derive(Clone)]
pub(super) enum Listener {
    Concurrent(Arc<dyn MessageListener>),
    Orderly(Arc<dyn OrderlyListener>),
}

impl Listener {
    pub(super) fn is_orderly(&self) -> bool {
        matches!(self, Self::Orderly(_))
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Concurrent(_) => "Listener::Concurrent",
            Self::Orderly(_) => "Listener::Orderly",
        })
    }
}

/// Calls a concurrent listener on the blocking pool.
pub(super) async fn call_concurrent(
    listener: &Arc<dyn MessageListener>,
    msgs: Vec<StoredMessage>,
    ctx: ConsumeContext,
) -> ConsumeResult {
    let l = listener.clone();
    let queue = ctx.queue.to_string();
    match tokio::task::spawn_blocking(move || l.consume(&msgs, &ctx)).await {
        Ok(r) => r,
        Err(e) => {
            error!(%queue, error = %e, "message listener panicked; the messages will be retried");
            ConsumeResult::RetryLater
        }
    }
}

/// Calls an orderly listener on the blocking pool.
pub(super) async fn call_orderly(
    listener: &Arc<dyn OrderlyListener>,
    msgs: Vec<StoredMessage>,
    ctx: ConsumeContext,
) -> OrderlyResult {
    let l = listener.clone();
    let queue = ctx.queue.to_string();
    match tokio::task::spawn_blocking(move || l.consume(&msgs, &ctx)).await {
        Ok(r) => r,
        Err(e) => {
            error!(%queue, error = %e, "orderly listener panicked; the queue is suspended a moment");
            OrderlyResult::SuspendCurrentQueueAMoment
        }
    }
}

#[cfg(test)]
mod tests {
    use ferromq_protocol::{BrokerName, QueueId, TopicName};

    use super::*;

    fn ctx() -> ConsumeContext {
        ConsumeContext {
            queue: MessageQueue::new(
                TopicName::new("T").unwrap(),
                BrokerName::new("b").unwrap(),
                QueueId::new(0),
            ),
        }
    }

    #[tokio::test]
    async fn closures_are_listeners_and_panics_are_failures() {
        let ok: Arc<dyn MessageListener> = Arc::new(|_: &[StoredMessage]| ConsumeResult::Success);
        assert_eq!(
            call_concurrent(&ok, vec![], ctx()).await,
            ConsumeResult::Success
        );
        let boom: Arc<dyn MessageListener> =
            Arc::new(|_: &[StoredMessage]| -> ConsumeResult { panic!("listener bug") });
        assert_eq!(
            call_concurrent(&boom, vec![], ctx()).await,
            ConsumeResult::RetryLater
        );
        let boom: Arc<dyn OrderlyListener> =
            Arc::new(|_: &[StoredMessage]| -> OrderlyResult { panic!("listener bug") });
        assert_eq!(
            call_orderly(&boom, vec![], ctx()).await,
            OrderlyResult::SuspendCurrentQueueAMoment
        );
    }

    #[test]
    fn results_convert_from_result() {
        assert_eq!(
            ConsumeResult::from(Ok::<(), ()>(())),
            ConsumeResult::Success
        );
        assert_eq!(
            ConsumeResult::from(Err::<(), _>("x")),
            ConsumeResult::RetryLater
        );
        assert_eq!(
            OrderlyResult::from(Err::<(), _>("x")),
            OrderlyResult::SuspendCurrentQueueAMoment
        );
    }
}
