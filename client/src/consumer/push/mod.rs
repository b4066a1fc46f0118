//! The push consumer: consumer-group membership and rebalance, per-queue
//! pull loops into bounded windows, a pool of listener calls, offsets
//! committed to the broker (or a local file when broadcasting), failed
//! messages handed back for retry, and orderly consumption under broker
//! queue locks.
//!
//! ```text
//! start ─ heartbeat (groups, subscriptions) to the topics' brokers
//!       ─ rebalance: members (broker) + read queues (route) ─ allocate
//!           └ per owned queue: pull loop ─ tag re-check ─ window
//!               ├ concurrent: batches ─ permit ─ listener ─ done / send back
//!               └ orderly: lock ─ one batch at a time in offset order
//! every 20 s, and when a broker says the group changed: rebalance
//! every 5 s, on rebalance and shutdown: commit lowest unfinished offset
//! ```

mod admin;
mod allocate;
mod builder;
mod concurrent;
mod consumer;
mod listener;
mod local_offsets;
mod offsets;
mod orderly;
mod process_queue;
mod pull_loop;
mod rebalance;
mod send_back;
mod settings;
mod shared;
mod subscription;
mod window;

pub use admin::{BrokerConsumerConnections, GroupTarget, QueueReset};
pub use allocate::AllocateStrategy;
pub use builder::PushConsumerBuilder;
pub use consumer::PushConsumer;
pub use ferromq_protocol::header::MessageModel;
pub use listener::{
    ConsumeContext, ConsumeResult, MessageListener, OrderlyListener, OrderlyResult,
};
pub use local_offsets::LocalOffsetsError;
pub use settings::ConsumeFromWhere;
