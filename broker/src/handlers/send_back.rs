//! `ConsumerSendMsgBack`: a consumer hands back a message it failed to
//! process; it comes back later through the retry topic, or goes to the
//! dead-letter topic.

use ferromq_protocol::header::{Empty, SendMsgBackRequest};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

pub(super) async fn send_back(b: &Broker, req: &Request) -> HandlerResult {
    let h: SendMsgBackRequest = decode(&req.header)?;
    b.send_back(&h).await?;
    Ok(Response::ok(&Empty {}))
}
