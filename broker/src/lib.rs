//! The FerroMQ broker.
//!
//! Layers, each importing only the ones below it (`tests/module_layers.rs`
//! checks that the modules import each other without a cycle):
//!
//! ```text
//! server/    lifecycle: start, serve, background loops, ordered shutdown
//!    │         remoting::serve ─▶ handlers::dispatch
//! handlers/  one thin handler per request: decode, one service call, encode
//!    │         (ServiceError ─▶ response code in handlers/reply.rs)
//! service/   the domain facade: policy, domain results, ServiceError
//!    │
//! topics · offsets · groups/ · schedule/ · state · stats · long_poll ·
//! filter · reappend · register · persist · config · error   ── and the store
//! ```
//!
//! A send arrives through the shared remoting layer, is decoded by a thin
//! handler and appended by the store (`ferromq_store`): one writer appends
//! to the commit log, a flusher fsyncs (group commit in `sync` mode) and
//! the dispatcher turns durable records into consume-queue entries, waking
//! held pulls through the long-poll registry. Topics and consumer offsets
//! live in small JSON files beside the store; the broker registers itself
//! and its topics with every NameServer periodically.
//!
//! Consumer groups (`groups/`): clients heartbeat their groups, members are
//! told when membership changes, orderly consumers lock queues. A message a
//! consumer sends back (`service/retry.rs`) waits in the schedule topic
//! (`schedule/`) and comes back through `%RETRY%<group>`, or goes to
//! `%DLQ%<group>` after too many attempts; producers' delayed messages take
//! the same path. Pulls filter by tag (`filter`).
//!
//! [`run`] is the entry point; the `mqbroker` binary only parses flags.

pub mod config;
mod error;
mod filter;
mod groups;
mod ha;
mod handlers;
mod long_poll;
mod offsets;
mod persist;
mod reappend;
mod register;
mod schedule;
mod server;
mod service;
mod state;
mod stats;
mod topics;

pub use config::{BrokerConfig, HaConfig, ReplicationMode};
pub use error::BrokerError;
pub use ferromq_store::FlushMode;
pub use ha::default_ha_listen;
pub use server::{run, start, BrokerHandle};
