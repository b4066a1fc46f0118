//! Messages the broker writes itself: retry and dead-letter copies, and
//! scheduled messages moved to their real topic. Each is a new record
//! encoded from a stored one, keeping its body bytes (compressed or not,
//! with the flags that say so), born time and host.

use bytes::BytesMut;
use ferromq_protocol::record::{self, BornInfo, Message, StoredMessage};
use ferromq_protocol::QueueId;

use ferromq_store::{AppendError, AppendResult, MessageStore};

/// The born fields of a stored message, with a new reconsume count.
pub(crate) fn born_of(m: &StoredMessage, reconsume_times: u32) -> BornInfo {
    BornInfo {
        timestamp: m.born_timestamp,
        host: m.born_host,
        flags: m.flags,
        reconsume_times,
    }
}

/// Encodes `msg` and appends it to `queue_id` of its topic, with the
/// store's outcome as it is: a `FlushTimeout` stays an error here, so a
/// producer's delayed send can report it; see [`written`] for the copies
/// the broker makes itself.
///
/// # Errors
/// `Invalid` if the message cannot be encoded; the store's errors.
pub(crate) async fn append_message(
    store: &MessageStore,
    msg: &Message,
    born: BornInfo,
    queue_id: QueueId,
) -> Result<AppendResult, AppendError> {
    let mut buf = BytesMut::with_capacity(record::encoded_len(msg));
    // The body came out of this store, so the store's own limit fits it;
    // the store checks again on append.
    record::encode(msg, born, store.config().max_message_size, &mut buf)
        .map_err(|e| AppendError::Invalid(format!("cannot encode the copy: {e}")))?;
    store.append(&msg.topic, queue_id, buf, 1).await
}

/// A copy the broker moved itself (a due scheduled message, a consumer's
/// send-back) counts as stored on `FlushTimeout`: it is written and
/// becomes durable with the next fdatasync, and nobody waits on its
/// status.
pub(crate) fn written(r: Result<AppendResult, AppendError>) -> Result<AppendResult, AppendError> {
    match r {
        Ok(r) | Err(AppendError::FlushTimeout(r)) => Ok(r),
        Err(e) => Err(e),
    }
}
