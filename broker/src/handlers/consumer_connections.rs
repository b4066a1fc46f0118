//! `GetConsumerConnectionList`: the group's clients, their addresses and
//! subscriptions (empty when nobody is connected).

use std::time::Instant;

use ferromq_protocol::header::GetConsumerConnectionsRequest;
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn consumer_connections(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetConsumerConnectionsRequest = decode(req)?;
    let c = b.groups().consumers().connections(&h.group, Instant::now());
    Ok(Response::ok(&c))
}
