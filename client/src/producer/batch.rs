//! Turning messages into the body of a send: validated, stamped with a
//! unique id and born info, and encoded as records once, so every retry
//! sends the same bytes (and the same unique ids).

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::record::{self, BornInfo, PROPERTY_UNIQ_KEY};
use ferromq_protocol::{Message, TopicName, DEFAULT_MAX_FRAME_LEN, MAX_HEADER_LEN};

use super::unique_id::{now_ms, UniqueIdGenerator};
use crate::error::{ClientError, Result};

/// Room left in a frame for the send header.
const MAX_SEND_BODY: usize = DEFAULT_MAX_FRAME_LEN - MAX_HEADER_LEN;

/// Records ready to send.
#[derive(Clone, Debug)]
pub(crate) struct EncodedBatch {
    pub(crate) topic: TopicName,
    /// The records, back to back.
    pub(crate) body: Bytes,
    /// Size of each record, to derive each message's commit-log offset.
    pub(crate) sizes: Vec<u64>,
    /// Unique id of each message.
    pub(crate) unique_ids: Vec<String>,
}

impl EncodedBatch {
    pub(crate) fn count(&self) -> u32 {
        // Bounded by MAX_SEND_BODY / MIN_RECORD_LEN, far below u32::MAX.
        self.sizes.len() as u32
    }
}

/// Validates and encodes `msgs`.
///
/// # Errors
/// [`ClientError::InvalidArgument`] for an empty batch, mixed topics, an
/// empty or oversized body, invalid keys/tags/properties, or a batch over
/// the frame limit. Nothing is sent then.
pub(crate) fn encode_batch(
    msgs: Vec<Message>,
    ids: &UniqueIdGenerator,
    born_host: SocketAddr,
    max_body: usize,
) -> Result<EncodedBatch> {
    let invalid = ClientError::InvalidArgument;
    let Some(topic) = msgs.first().map(|m| m.topic.clone()) else {
        return Err(invalid("a batch needs at least one message".into()));
    };
    let born = BornInfo {
        timestamp: now_ms(),
        host: born_host,
        flags: record::COMPRESSION_NONE,
        reconsume_times: 0,
    };
    let mut body = BytesMut::new();
    let mut sizes = Vec::with_capacity(msgs.len());
    let mut unique_ids = Vec::with_capacity(msgs.len());
    for (i, mut msg) in msgs.into_iter().enumerate() {
        if msg.topic != topic {
            return Err(invalid(format!(
                "a batch goes to one topic: message {i} is for {}, the first for {topic}",
                msg.topic
            )));
        }
        if msg.body.is_empty() {
            return Err(invalid(format!("message {i} has an empty body")));
        }
        if msg.body.len() > max_body {
            return Err(invalid(format!(
                "message body of {} bytes exceeds the maximum message size of {max_body} bytes",
                msg.body.len()
            )));
        }
        // Like RocketMQ, keep an id the application set itself.
        let id = msg
            .properties
            .entry(PROPERTY_UNIQ_KEY.to_string())
            .or_insert_with(|| ids.next_id())
            .clone();
        let size = record::encode(&msg, born, max_body, &mut body)
            .map_err(|e| invalid(format!("message {i}: {e}")))?;
        if body.len() > MAX_SEND_BODY {
            return Err(invalid(format!(
                "batch exceeds the frame limit of {MAX_SEND_BODY} bytes; send fewer messages at once"
            )));
        }
        sizes.push(size as u64);
        unique_ids.push(id);
    }
    Ok(EncodedBatch {
        topic,
        body: body.freeze(),
        sizes,
        unique_ids,
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn gen() -> UniqueIdGenerator {
        UniqueIdGenerator::new(Ipv4Addr::LOCALHOST.into())
    }

    fn msg(topic: &str, body: &str) -> Message {
        Message::new(TopicName::new(topic).unwrap(), body.to_string())
    }

    fn host() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn encodes_records_with_unique_ids() {
        let user_id = "MY-OWN-ID";
        let msgs = vec![
            msg("T", "a"),
            msg("T", "bb").with_property(PROPERTY_UNIQ_KEY, user_id),
        ];
        let b = encode_batch(msgs, &gen(), host(), 100).unwrap();
        assert_eq!(b.count(), 2);
        assert_eq!(b.unique_ids[1], user_id);
        assert_eq!(b.unique_ids[0].len(), 32);
        let all = record::decode_all(&b.body).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].unique_id(), Some(b.unique_ids[0].as_str()));
        assert_eq!(all[1].message.body, "bb");
        assert_eq!(
            b.sizes,
            all.iter()
                .map(|m| u64::from(m.stored_size))
                .collect::<Vec<_>>()
        );
        assert_eq!(all[0].born_host, host());
    }

    #[test]
    fn refuses_bad_batches_before_sending() {
        let g = gen();
        let err = |msgs| match encode_batch(msgs, &g, host(), 4) {
            Err(ClientError::InvalidArgument(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(vec![]).contains("at least one"));
        assert!(err(vec![msg("T", "a"), msg("U", "a")]).contains("one topic"));
        assert!(err(vec![msg("T", "")]).contains("empty body"));
        assert!(err(vec![msg("T", "12345")]).contains("exceeds the maximum message size of 4"));
        assert!(err(vec![msg("T", "1").with_key("has space")]).contains("keys"));
    }
}
