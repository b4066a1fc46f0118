//! FerroMQ's one TCP layer, used by every process that speaks the protocol.
//!
//! * [`Connection`]: a multiplexed client connection. Many requests share
//!   one socket; responses are matched by request id and may come back in
//!   any order, so a held pull never blocks a send.
//! * [`serve`]: the server loop the NameServer and the broker run, with
//!   its limits in one place ([`ServerOptions`]: connection cap, in-flight
//!   cap per connection, frame limit, shutdown grace). A [`Handler`] turns
//!   each [`Request`] into a [`Response`].
//!
//! # How data flows
//!
//! ```text
//! client: Connection::call ─ encode header ─ writer task (bounded queue)
//!           ─ socket ─▶ server: reader task ─ one task per request
//!           ─ Handler::handle ─ Response ─ bounded queue ─ writer task
//!           ─ socket ─▶ client reader task ─ pending[request_id] ─ caller
//! ```
//!
//! Frames are [`ferromq_protocol::Frame`]s; this crate adds sockets, tasks
//! and limits, and knows nothing of topics, stores or the client SDK.
#![warn(missing_docs)]

mod connection;
mod error;
mod server;
mod writer;

pub use connection::{Connection, PushHandler, Reply};
pub use error::{RemotingError, Result};
pub use server::{serve, Handler, PeerHandle, Request, Response, ServerOptions};
