//! `GetConsumerListByGroup`: the group's live client ids, sorted.

use ferromq_protocol::header::{ConsumerList, GetConsumerListRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) fn consumer_list(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetConsumerListRequest = decode(&req.header)?;
    let client_ids = b.consumer_ids(&h.group);
    Ok(Response::ok(&ConsumerList { client_ids }))
}
