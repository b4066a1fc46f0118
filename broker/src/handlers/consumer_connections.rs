//! `GetConsumerConnectionList`: the group's clients, their addresses and
//! subscriptions (empty when nobody is connected).

use ferromq_protocol::header::GetConsumerConnectionsRequest;
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn consumer_connections(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetConsumerConnectionsRequest = decode(&req.header)?;
    Ok(Response::ok(&b.consumer_connections(&h.group)))
}
