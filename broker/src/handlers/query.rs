//! `QueryMessage` (by key or unique id, through the store's index) and
//! `ViewMessageById` (the record at a commit-log offset, no index).
//!
//! Nothing found is an empty `Success` for a query (it answers "which
//! messages?", and none is an answer) but `QueryNotFound` for a view by id,
//! which names exactly one record.

use bytes::{Bytes, BytesMut};
use ferromq_protocol::header::{
    Empty, QueryMessageRequest, QueryMessageResponse, ViewMessageByIdRequest,
};
use ferromq_remoting::{Request, Response};

use super::{decode, HandlerResult};
use crate::service::Broker;

/// Most record bytes in one query answer, well under the frame limit even
/// when one record is a maximum-size message (which is always included).
const QUERY_MAX_BYTES: usize = 8 * 1024 * 1024;

pub(super) async fn query_message(b: &Broker, req: &Request) -> HandlerResult {
    let h: QueryMessageRequest = decode(&req.header)?;
    let found = b.query_messages(h.topic, h.by).await?;
    let (body, truncated) = concat_capped(found, QUERY_MAX_BYTES);
    Ok(Response::ok(&QueryMessageResponse { truncated }).with_body(body))
}

pub(super) fn view_by_id(b: &Broker, req: &Request) -> HandlerResult {
    let h: ViewMessageByIdRequest = decode(&req.header)?;
    let record = b.view_message(h.offset)?;
    Ok(Response::ok(&Empty {}).with_body(record))
}

/// The records back to back, in order, stopping before the byte budget is
/// exceeded (the first record always goes in); and whether any was left
/// out.
fn concat_capped(records: Vec<Bytes>, max_bytes: usize) -> (Bytes, bool) {
    let mut out = BytesMut::new();
    let total = records.len();
    let mut taken = 0;
    for r in records {
        if taken > 0 && out.len() + r.len() > max_bytes {
            break;
        }
        out.extend_from_slice(&r);
        taken += 1;
    }
    (out.freeze(), taken < total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_capped_but_never_empty() {
        let recs = || vec![Bytes::from(vec![1u8; 10]), Bytes::from(vec![2u8; 10])];
        assert_eq!(
            concat_capped(recs(), 100),
            (Bytes::from([vec![1u8; 10], vec![2u8; 10]].concat()), false)
        );
        let (b, cut) = concat_capped(recs(), 15);
        assert_eq!((b.len(), cut), (10, true));
        let (b, cut) = concat_capped(recs(), 1);
        assert_eq!((b.len(), cut), (10, true), "the first record always fits");
        assert_eq!(concat_capped(vec![], 1), (Bytes::new(), false));
    }
}
