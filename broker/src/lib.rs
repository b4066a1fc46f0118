//! The FerroMQ broker.
//!
//! A send arrives through the shared remoting layer, is decoded by a thin
//! handler (`handlers/`) and appended by the [`store`]: one writer appends to
//! the commit log, a flusher fsyncs (group commit in `sync` mode) and the
//! dispatcher turns durable records into consume-queue entries, waking held
//! pulls through the long-poll registry. Topics and consumer offsets live in
//! small JSON files beside the store; the broker registers itself and its
//! topics with every NameServer periodically.
//!
//! Consumer groups (`groups/`): clients heartbeat their groups, members are
//! told when membership changes, orderly consumers lock queues. A message a
//! consumer sends back (`retry`) waits in the schedule topic (`schedule/`)
//! and comes back through `%RETRY%<group>`, or goes to `%DLQ%<group>` after
//! too many attempts; producers' delayed messages take the same path.
//! Pulls filter by tag (`filter`).
//!
//! [`run`] is the entry point; the `mqbroker` binary only parses flags.

mod broker;
pub mod config;
mod error;
mod filter;
mod groups;
mod handlers;
mod long_poll;
mod offsets;
mod persist;
mod reappend;
mod register;
mod retry;
mod schedule;
mod state;
mod stats;

mod topics;

pub use broker::{run, start, BrokerHandle};
pub use config::BrokerConfig;
pub use error::BrokerError;
pub use ferromq_store::FlushMode;
