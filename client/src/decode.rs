//! From a broker's response body to the messages an application sees:
//! records verified, compressed bodies restored (bounded by
//! [`MAX_UNCOMPRESSED_BODY`]).

use bytes::Bytes;
use ferromq_protocol::{compression, record, StoredMessage, MAX_UNCOMPRESSED_BODY};
use tracing::error;

use crate::error::Result;
use crate::route::MessageQueue;

/// Every record of `body`, decompressed. For lookups, where the caller
/// asked for these very messages: a body that cannot be decompressed is an
/// error, not a silent gap.
///
/// # Errors
/// [`crate::ClientError::Record`] for a record that fails verification,
/// [`crate::ClientError::Compression`] for a body that cannot be restored.
pub(crate) fn messages(body: &Bytes) -> Result<Vec<StoredMessage>> {
    let mut msgs = record::decode_all(body)?;
    for m in &mut msgs {
        compression::decompress_message(m, MAX_UNCOMPRESSED_BODY)?;
    }
    Ok(msgs)
}

/// Decompresses pulled messages in place, dropping (with an error log) any
/// whose body cannot be restored. A consumer must not stall on such a
/// message, which no retry can ever fix, so it is skipped like RocketMQ's
/// consumers skip a message that fails to decode.
pub(crate) fn decompress_or_skip(
    mut msgs: Vec<StoredMessage>,
    queue: &MessageQueue,
) -> Vec<StoredMessage> {
    // In place: nothing moves unless a message is dropped.
    msgs.retain_mut(
        |m| match compression::decompress_message(m, MAX_UNCOMPRESSED_BODY) {
            Ok(()) => true,
            Err(e) => {
                error!(%queue, queue_offset = %m.queue_offset, msg_id = %m.msg_id(),
                    unique_id = m.unique_id().unwrap_or("-"), error = %e,
                    "skipping a message whose body cannot be decompressed");
                false
            }
        },
    );
    msgs
}
