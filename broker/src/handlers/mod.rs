//! One thin handler per verb: decode the header, call the domain, encode the
//! reply. Every failure is a `Response` with a code and a message; nothing
//! here panics on input.

mod admin;
mod offset;
mod pull;
mod query;
mod runtime;
mod search_offset;
mod send;

use ferromq_client::remoting::{Request, Response};
use ferromq_protocol::{decode_header, RequestCode, ResponseCode, Rpc};

use crate::broker::Broker;

/// Handlers answer with `Err` for every failure, so they can use `?`.
type HandlerResult = Result<Response, Response>;

pub(crate) async fn dispatch(b: &Broker, req: Request) -> Response {
    let Some(code) = RequestCode::from_u16(req.code) else {
        return unsupported(req.code);
    };
    let result = match code {
        RequestCode::SendMessage => send::send(b, req).await,
        RequestCode::PullMessage => pull::pull(b, req).await,
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

/// Decodes the request's header as `R`, or answers `BadRequest`.
fn decode<R: Rpc>(req: &Request) -> Result<R, Response> {
    decode_header::<R>(&req.header).map_err(|e| {
        Response::error(
            ResponseCode::BadRequest,
            format!("malformed {:?} header: {e}", R::CODE),
        )
    })
}
