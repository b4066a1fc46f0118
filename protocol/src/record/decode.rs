//! Turning verified records into owned [`StoredMessage`]s, the consumer's
//! side of the layout.

use bytes::Bytes;

use super::{parse, Message, StoredMessage};
use crate::error::RecordError;
use crate::names::TopicName;

/// Verifies and decodes the record at the front of `buf`; the body shares
/// `buf`'s memory.
///
/// # Errors
/// As [`parse()`].
pub fn decode(buf: &Bytes) -> Result<StoredMessage, RecordError> {
    let r = parse(buf)?;
    let body = buf.slice(r.body.0..r.body.1);
    let message = Message {
        topic: TopicName::new(r.topic)?,
        tags: (!r.tags.is_empty()).then(|| r.tags.to_string()),
        keys: r
            .keys
            .split(' ')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        properties: r
            .properties()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
    };
    Ok(StoredMessage {
        message,
        flags: r.flags,
        queue_id: r.queue_id,
        queue_offset: r.queue_offset,
        commit_log_offset: r.commit_log_offset,
        stored_size: r.size as u32,
        born_timestamp: r.born_timestamp,
        store_timestamp: r.store_timestamp,
        born_host: r.born_host(),
        store_host: r.store_host(),
        reconsume_times: r.reconsume_times,
    })
}

/// Decodes every record of a buffer of back-to-back records (a pull body).
///
/// # Errors
/// The first record that fails to verify.
pub fn decode_all(buf: &Bytes) -> Result<Vec<StoredMessage>, RecordError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = buf.slice(pos..);
        let m = decode(&rest)?;
        pos += m.stored_size as usize;
        out.push(m);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encoded_len;
    use crate::record::fixtures::encoded;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(topic in "[a-zA-Z0-9_%-]{1,127}", tags in proptest::option::of("[a-zA-Z]{1,20}"),
                      keys in proptest::collection::vec("[a-z0-9]{1,10}", 0..4),
                      props in proptest::collection::btree_map("[a-z]{1,8}", ".{0,16}", 0..5),
                      body in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let m = Message { topic: TopicName::new(topic).unwrap(), tags, keys, properties: props, body: body.into() };
            let mut b = encoded(&m);
            prop_assert_eq!(b.len(), encoded_len(&m));
            let second = encoded(&m);
            b.extend_from_slice(&second);
            let all = decode_all(&b.freeze()).unwrap();
            prop_assert_eq!(all.len(), 2);
            prop_assert_eq!(&all[0].message, &m);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
            let _ = decode_all(&Bytes::from(bytes));
        }
    }
}
