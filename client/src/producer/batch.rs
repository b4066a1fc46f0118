//! Turning messages into the body of a send: validated against the size
//! limits, compressed when large, stamped with a unique id and born info,
//! and encoded as records once, so every retry sends the same bytes (and
//! the same unique ids).

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::record::{self, BornInfo, PROPERTY_UNIQ_KEY};
use ferromq_protocol::{compression, Message, TopicName, DEFAULT_MAX_FRAME_LEN, MAX_HEADER_LEN};

use super::unique_id::{now_ms, UniqueIdGenerator, UNIQUE_ID_LEN};
use crate::error::{ClientError, Result};

/// Room left in a frame for the send header.
pub(crate) const MAX_SEND_BODY: usize = DEFAULT_MAX_FRAME_LEN - MAX_HEADER_LEN;

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

/// The size limits and compression setting a batch is encoded under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest body as sent (after compression).
    pub(crate) max_body: usize,
    /// Largest encoded batch of two or more messages.
    pub(crate) max_batch_bytes: usize,
    /// Bodies longer than this are compressed; `None` never compresses.
    pub(crate) compress_threshold: Option<usize>,
}

/// Validates, compresses and encodes `msgs`.
///
/// # Errors
/// [`ClientError::InvalidArgument`] for an empty batch, mixed topics, an
/// empty or oversized body, invalid keys/tags/properties, a batch over
/// `max_batch_bytes` or over the frame limit. Nothing is sent then.
pub(crate) fn encode_batch(
    msgs: Vec<Message>,
    ids: &UniqueIdGenerator,
    born_host: SocketAddr,
    limits: Limits,
) -> Result<EncodedBatch> {
    let invalid = ClientError::InvalidArgument;
    let Some(topic) = msgs.first().map(|m| m.topic.clone()) else {
        return Err(invalid("a batch needs at least one message".into()));
    };
    let count = msgs.len();
    let born = BornInfo {
        timestamp: now_ms(),
        host: born_host,
        flags: record::COMPRESSION_NONE,
        reconsume_times: 0,
    };
    // Room for every record as it will most likely be encoded (with a
    // unique id added, not compressed), so the buffer is not regrown and
    // copied as it fills. Capped: a batch past the limits is refused below.
    let unique_id_room = 4 + PROPERTY_UNIQ_KEY.len() + UNIQUE_ID_LEN;
    let expected: usize = msgs
        .iter()
        .map(|m| record::encoded_len(m) + unique_id_room)
        .sum();
    let mut body = BytesMut::with_capacity(expected.min(MAX_SEND_BODY));
    let mut sizes = Vec::with_capacity(count);
    let mut unique_ids = Vec::with_capacity(count);
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
        let original = msg.body.len();
        let mut born = born;
        if let Some(compressed) = compress(&msg.body, limits.compress_threshold) {
            msg.body = compressed;
            born.flags |= record::COMPRESSION_LZ4;
        }
        // The limit is the broker's, and the broker sees the body as sent.
        if msg.body.len() > limits.max_body {
            let how = if msg.body.len() == original {
                String::new()
            } else {
                format!(" ({original} bytes before compression)")
            };
            return Err(invalid(format!(
                "message {i}: body of {} bytes{how} exceeds the maximum message size of {} bytes",
                msg.body.len(),
                limits.max_body
            )));
        }
        // Like RocketMQ, keep an id the application set itself; a new one
        // goes into the record without a map entry of its own.
        let (id, generated) = match msg.properties.get(PROPERTY_UNIQ_KEY) {
            Some(own) => (own.clone(), false),
            None => (ids.id_at(born.timestamp), true),
        };
        let extra = generated.then_some((PROPERTY_UNIQ_KEY, id.as_str()));
        let size = record::encode_with(&msg, extra, born, limits.max_body, &mut body)
            .map_err(|e| invalid(format!("message {i}: {e}")))?;
        // Checked as the batch grows, so a huge batch is refused without
        // encoding (and compressing) all of it.
        if count > 1 && body.len() > limits.max_batch_bytes {
            return Err(invalid(format!(
                "batch of {count} messages exceeds the maximum batch size of {} bytes: \
                 the first {} already encode to {} bytes; send fewer messages at once",
                limits.max_batch_bytes,
                i + 1,
                body.len()
            )));
        }
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

/// The body compressed, if it is over the threshold and compression makes
/// it smaller.
fn compress(body: &Bytes, threshold: Option<usize>) -> Option<Bytes> {
    let threshold = threshold?;
    if body.len() <= threshold {
        return None;
    }
    compression::compress_lz4(body)
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

    fn limits(max_body: usize) -> Limits {
        Limits {
            max_body,
            max_batch_bytes: 1 << 20,
            compress_threshold: None,
        }
    }

    fn err(r: Result<EncodedBatch>) -> String {
        match r {
            Err(ClientError::InvalidArgument(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn encodes_records_with_unique_ids() {
        let user_id = "MY-OWN-ID";
        let msgs = vec![
            msg("T", "a"),
            msg("T", "bb").with_property(PROPERTY_UNIQ_KEY, user_id),
        ];
        let b = encode_batch(msgs, &gen(), host(), limits(100)).unwrap();
        assert_eq!(b.count(), 2);
        assert_eq!(b.unique_ids[1], user_id);
        assert_eq!(b.unique_ids[0].len(), 32);
        let all = record::decode_all(&b.body).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].unique_id(), Some(b.unique_ids[0].as_str()));
        assert_eq!(all[1].message.body, "bb");
        assert_eq!(
            all[1].unique_id(),
            Some(user_id),
            "the application's id is kept"
        );
        assert_eq!(all[1].message.properties.len(), 1);
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
        let err = |msgs| err(encode_batch(msgs, &g, host(), limits(4)));
        assert!(err(vec![]).contains("at least one"));
        assert!(err(vec![msg("T", "a"), msg("U", "a")]).contains("one topic"));
        assert!(err(vec![msg("T", "")]).contains("empty body"));
        assert!(err(vec![msg("T", "12345")]).contains("exceeds the maximum message size of 4"));
        assert!(err(vec![msg("T", "1").with_key("has space")]).contains("keys"));
    }

    #[test]
    fn large_bodies_are_compressed_when_it_pays() {
        let text = "all work and no play makes jack a dull boy ".repeat(400);
        let l = Limits {
            compress_threshold: Some(4096),
            ..limits(1 << 20)
        };
        let msgs = vec![msg("T", &text), msg("T", "short")];
        let b = encode_batch(msgs, &gen(), host(), l).unwrap();
        let mut all = record::decode_all(&b.body).unwrap();
        assert_eq!(
            all[0].flags & record::COMPRESSION_MASK,
            record::COMPRESSION_LZ4
        );
        assert!(all[0].message.body.len() < text.len() / 10);
        assert_eq!(all[1].flags, 0, "under the threshold");
        compression::decompress_message(&mut all[0], 1 << 20).unwrap();
        assert_eq!(all[0].message.body, text);

        let off = Limits {
            compress_threshold: None,
            ..l
        };
        let b = encode_batch(vec![msg("T", &text)], &gen(), host(), off).unwrap();
        assert_eq!(record::decode_all(&b.body).unwrap()[0].flags, 0);
    }

    #[test]
    fn size_limit_applies_to_the_body_as_sent() {
        let text = "0123456789".repeat(1000);
        let tight = Limits {
            compress_threshold: Some(10),
            ..limits(2000)
        };
        assert!(encode_batch(vec![msg("T", &text)], &gen(), host(), tight).is_ok());
        let e = err(encode_batch(
            vec![msg("T", &text)],
            &gen(),
            host(),
            limits(2000),
        ));
        assert!(
            e.contains("body of 10000 bytes exceeds the maximum message size of 2000"),
            "{e}"
        );
        // Incompressible and over the limit: the message names both sizes
        // only when compression changed something.
        let l = Limits {
            compress_threshold: Some(10),
            ..limits(20)
        };
        let e = err(encode_batch(
            vec![msg("T", "abcdefghijklmnopqrstu")],
            &gen(),
            host(),
            l,
        ));
        assert!(e.contains("body of 21 bytes exceeds"), "{e}");
    }

    #[test]
    fn batch_limit_names_the_limit_and_the_sizes() {
        let l = Limits {
            max_batch_bytes: 1000,
            ..limits(1 << 20)
        };
        let msgs: Vec<Message> = (0..10).map(|_| msg("T", &"y".repeat(300))).collect();
        let e = err(encode_batch(msgs, &gen(), host(), l));
        assert!(
            e.contains("batch of 10 messages exceeds the maximum batch size of 1000 bytes"),
            "{e}"
        );
        // One message is limited by the message size only.
        assert!(encode_batch(vec![msg("T", &"y".repeat(3000))], &gen(), host(), l).is_ok());
    }
}
