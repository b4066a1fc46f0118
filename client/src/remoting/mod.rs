//! The project's one TCP layer: multiplexed client connections
//! ([`Connection`]) and the server loop ([`serve`]) that the NameServer and
//! the broker run. Both speak [`ferromq_protocol::Frame`]s; many requests share
//! one connection and responses are matched by request id, in any order.

mod connection;
mod server;
mod writer;

pub use connection::{Connection, PushHandler, Reply};
pub use server::{serve, Handler, PeerHandle, Request, Response, ServerOptions};
