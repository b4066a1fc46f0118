//! `PullMessage`: read a queue, held by the service while it is empty. A
//! read that skipped every record by tag answers `PullRetryImmediately`
//! with the advanced offset.

use ferromq_protocol::header::{PullMessageRequest, PullMessageResponse};
use ferromq_protocol::{QueueOffset, ResponseCode};
use ferromq_remoting::{Request, Response};
use ferromq_store::{ReadResult, ReadStatus};

use super::{decode, HandlerResult};
use crate::service::{Broker, Pulled};

pub(super) async fn pull(b: &Broker, req: &Request) -> HandlerResult {
    let h: PullMessageRequest = decode(&req.header)?;
    Ok(match b.pull(&h, &req.conn).await? {
        Pulled::Read(read) => {
            let suggest = b.suggest_reader(&read);
            answer(read, h.queue_offset, suggest)
        }
        Pulled::AllFiltered {
            next_offset,
            min_offset,
            max_offset,
        } => Response::typed(
            ResponseCode::PullRetryImmediately,
            &PullMessageResponse {
                next_offset,
                min_offset,
                max_offset,
                suggest_which_broker_id: 0,
            },
        ),
    })
}

fn answer(read: ReadResult, asked: QueueOffset, suggest: u64) -> Response {
    let header = PullMessageResponse {
        next_offset: read.next_offset,
        min_offset: read.min_offset,
        max_offset: read.max_offset,
        suggest_which_broker_id: suggest,
    };
    match read.status {
        ReadStatus::Found => Response::ok(&header).with_body(read.records.into_bytes()),
        ReadStatus::NoNewMessage => Response::typed(ResponseCode::PullNotFound, &header),
        ReadStatus::NoQueue if asked.get() == 0 => {
            Response::typed(ResponseCode::PullNotFound, &header)
        }
        ReadStatus::NoQueue | ReadStatus::OffsetTooSmall | ReadStatus::OffsetOverflow => {
            Response::typed(ResponseCode::PullOffsetMoved, &header)
        }
    }
}
