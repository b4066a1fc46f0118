//! FerroMQ's Rust client SDK.
//!
//! # What is here
//!
//! * [`MqClient`]: the shared state of one process — one multiplexed
//!   connection per server address, NameServer calls with failover, and a
//!   route cache per topic refreshed in the background.
//! * [`Producer`]: sends messages (sync, async, batch, to a chosen queue)
//!   with retries on another broker.
//! * [`PullConsumer`]: reads every queue of its topics through background
//!   long-polls into a bounded buffer; the application polls and commits.
//! * [`PushConsumer`]: a consumer-group member that calls a listener
//!   (concurrently or in queue order), rebalances queues with the other
//!   members, commits offsets, and hands failed messages back for retry.
//! * [`AdminClient`]: topic, cluster and consumer-progress administration,
//!   and message lookups (by offset id, key, unique id, queue offset, and
//!   queue offset by time), used by `mqadmin`.
//!
//! # How data flows
//!
//! ```text
//! Producer::send ─ check limits, compress large bodies (LZ4), encode
//!   records (unique id, born info) ─ route (cache, NameServer, else a
//!   provisional one from the auto-create topic TBW102) ─ choose a write
//!   queue, skipping brokers the latency fault strategy avoids ─
//!   SendMessage to the broker's master (connection cached per address;
//!   a dead address is re-dialled with backoff)
//!   └─ retryable error: refresh route, retry on another broker, all
//!      within the send timeout
//!
//! PullConsumer::subscribe ─ route ─ one pull task per read queue:
//!   start offset (committed, else first/last) ─ long-poll PullMessage ─
//!   decode, decompress ─ bounded buffer ─ PullConsumer::poll ─ commit
//!   (per broker)
//!
//! PushConsumer::start ─ heartbeat groups to the brokers ─ rebalance
//!   (members from a broker, queues from the route, allocate) ─ per owned
//!   queue: pull loop (tag expression, re-checked here) ─ window ─ listener
//!   (concurrent batches, or orderly under a broker lock) ─ done, or sent
//!   back to %RETRY%<group> ─ commit the lowest unfinished offset
//! ```
//!
//! Everything is at least once: a retried send may store a message twice,
//! and a consumer that stops before committing reads messages again.
#![warn(missing_docs)]

pub mod admin;
mod config;
pub mod consumer;
mod decode;
pub mod error;
mod mq_client;
pub mod producer;
mod route;

#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

pub use admin::{AdminClient, PermChange, PromoteOptions, Promotion};
pub use config::{parse_namesrv_addrs, ClientConfig, ClientConfigBuilder, DEFAULT_NAMESRV_ADDR};
pub use consumer::push::{BrokerConsumerConnections, GroupTarget, QueueReset};
pub use consumer::{
    AllocateStrategy, ConsumeContext, ConsumeFrom, ConsumeFromWhere, ConsumeResult,
    MessageListener, MessageModel, OrderlyListener, OrderlyResult, PolledMessage, PullConsumer,
    PullConsumerBuilder, PushConsumer, PushConsumerBuilder,
};
pub use error::{ClientError, Result};
pub use ferromq_protocol as protocol;
pub use ferromq_protocol::header::{PERM_READ, PERM_READ_WRITE, PERM_WRITE};
pub use ferromq_protocol::{
    BrokerName, ClusterName, CommitLogOffset, GroupName, Message, MessageId, QueueId, QueueOffset,
    StoredMessage, TopicName,
};
/// The connection type of [`MqClient::connection`] and the reply of
/// [`MqClient::call`]; the server side of the remoting layer is not the
/// SDK's.
pub use ferromq_remoting::{Connection, Reply};
pub use mq_client::MqClient;
pub use producer::{
    Producer, ProducerBuilder, SendFuture, SendResult, SendStatus, DEFAULT_COMPRESS_THRESHOLD,
    DEFAULT_MAX_BATCH_BYTES,
};
pub use route::{MessageQueue, TopicRoute};
