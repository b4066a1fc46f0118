//! `GetConsumerListByGroup`: the group's live client ids, sorted.

use ferromq_protocol::header::{ConsumerList, GetConsumerListRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::broker::Broker;

pub(super) fn consumer_list(b: &Broker, req: &Request) -> HandlerResult {
    let h: GetConsumerListRequest = decode(req)?;
    let client_ids = b.groups().consumers().client_ids(&h.group);
    Ok(Response::ok(&ConsumerList { client_ids }))
}
