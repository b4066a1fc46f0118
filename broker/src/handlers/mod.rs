//! One thin handler per verb: decode the header, call one method of the
//! broker service, encode the reply. Every failure is a `Response` with a
//! code and a message (a service error's code is chosen in `reply`);
//! nothing here panics on input.

mod admin;
mod consumer_connections;
mod consumer_list;
mod delete_sub_group;
pub(crate) mod ha;
mod heartbeat;
mod lock_batch;
mod offset;
mod pull;
mod query;
mod reply;
mod reset_offset;
mod runtime;
mod search_offset;
mod send;
mod send_back;
mod unlock_batch;
mod unregister_client;
mod update_sub_group;

use ferromq_protocol::{decode_header, RequestCode, ResponseCode, Rpc};
use ferromq_remoting::{Request, Response};

use crate::service::Broker;

/// Handlers answer with `Err` for every failure, so they can use `?` (a
/// `ServiceError` converts through `reply`).
type HandlerResult = Result<Response, Response>;

pub(crate) async fn dispatch(b: &Broker, req: Request) -> Response {
    let Some(code) = RequestCode::from_u16(req.code) else {
        return unsupported(req.code);
    };
    let result = match code {
        RequestCode::SendMessage => send::send(b, req).await,
        RequestCode::PullMessage => pull::pull(b, &req).await,
        RequestCode::QueryConsumerOffset => offset::query(b, &req),
        RequestCode::UpdateConsumerOffset => offset::update(b, &req),
        RequestCode::GetMaxOffset => offset::max_offset(b, &req),
        RequestCode::GetMinOffset => offset::min_offset(b, &req),
        RequestCode::UpdateTopic => admin::update_topic(b, &req),
        RequestCode::DeleteTopicInBroker => admin::delete_topic(b, &req).await,
        RequestCode::GetTopicStats => admin::topic_stats(b, &req),
        RequestCode::GetConsumeStats => admin::consume_stats(b, &req),
        RequestCode::GetBrokerRuntimeInfo => runtime::runtime_info(b, &req),
        RequestCode::WipeWritePerm => runtime::wipe_write_perm(b, &req),
        RequestCode::AddWritePerm => runtime::add_write_perm(b, &req),
        RequestCode::QueryMessage => query::query_message(b, &req).await,
        RequestCode::ViewMessageById => query::view_by_id(b, &req),
        RequestCode::SearchOffsetByTimestamp => search_offset::search_offset(b, &req),
        RequestCode::Heartbeat => heartbeat::heartbeat(b, &req),
        RequestCode::UnregisterClient => unregister_client::unregister(b, &req),
        RequestCode::GetConsumerListByGroup => consumer_list::consumer_list(b, &req),
        RequestCode::GetConsumerConnectionList => {
            consumer_connections::consumer_connections(b, &req)
        }
        RequestCode::ConsumerSendMsgBack => send_back::send_back(b, &req).await,
        RequestCode::LockBatchMq => lock_batch::lock_batch(b, &req),
        RequestCode::UnlockBatchMq => unlock_batch::unlock_batch(b, &req),
        RequestCode::UpdateSubscriptionGroup => update_sub_group::update_sub_group(b, &req),
        RequestCode::DeleteSubscriptionGroup => delete_sub_group::delete_sub_group(b, &req),
        RequestCode::ResetOffsetByTime => reset_offset::reset_offset(b, &req).await,
        RequestCode::GetBrokerHaStatus => ha::status(b, &req),
        RequestCode::HaRoleChange => ha::role_change(b, &req).await,
        _ => Err(unsupported(req.code)),
    };
    result.unwrap_or_else(|e| e)
}

fn unsupported(code: u16) -> Response {
    Response::error(
        ResponseCode::RequestCodeNotSupported,
        format!("request code {code} is not supported by this broker"),
    )
}

/// Decodes a request header as `R`, or answers `BadRequest`.
fn decode<R: Rpc>(header: &[u8]) -> Result<R, Response> {
    decode_header::<R>(header).map_err(|e| {
        Response::error(
            ResponseCode::BadRequest,
            format!("malformed {:?} header: {e}", R::CODE),
        )
    })
}
