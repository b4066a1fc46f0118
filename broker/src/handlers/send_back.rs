//! `ConsumerSendMsgBack`: a consumer hands back a message it failed to
//! process; it comes back later through the retry topic, or goes to the
//! dead-letter topic.

use ferromq_protocol::header::{Empty, SendMsgBackRequest};
use ferromq_protocol::ResponseCode;
use ferromq_remoting::{Request, Response};
use tracing::debug;

use super::send::append_error;
use super::{decode, HandlerResult};
use crate::broker::Broker;
use crate::retry::{self, SendBack, SendBackError};

pub(super) async fn send_back(b: &Broker, req: &Request) -> HandlerResult {
    let h: SendMsgBackRequest = decode(req)?;
    if !b.state().writable() {
        return Err(Response::error(
            ResponseCode::NoPermission,
            format!(
                "broker {} is not writable (write permission wiped)",
                b.name()
            ),
        ));
    }
    let outcome = retry::send_back(b, &h).await.map_err(|e| match e {
        SendBackError::NotFound(_) => Response::error(ResponseCode::QueryNotFound, e.to_string()),
        SendBackError::Invalid(m) => Response::error(ResponseCode::MessageIllegal, m),
        SendBackError::Read(_) | SendBackError::Topic(_) => {
            Response::error(ResponseCode::SystemError, e.to_string())
        }
        SendBackError::Append(e) => append_error(e),
    })?;
    match outcome {
        SendBack::Retry {
            level,
            reconsume_times,
        } => {
            debug!(group = %h.group, offset = %h.offset, level, reconsume_times, "message scheduled for retry")
        }
        SendBack::DeadLetter {
            topic,
            reconsume_times,
        } => {
            debug!(group = %h.group, offset = %h.offset, %topic, reconsume_times, "message dead-lettered")
        }
    }
    Ok(Response::ok(&Empty {}))
}
