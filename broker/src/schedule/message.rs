//! The two rewrites of scheduled delivery: a message into the schedule
//! topic (queue `level - 1`, its destination kept in properties), and back
//! out to its real topic and queue once due.

use ferromq_protocol::header::{PROPERTY_DELAY_LEVEL, PROPERTY_REAL_QUEUE_ID, PROPERTY_REAL_TOPIC};
use ferromq_protocol::record::{raw, Message};
use ferromq_protocol::{NameError, QueueId, TopicName};
use thiserror::Error;

/// Why a send's `DELAY` property is refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub(crate) enum DelayRequestError {
    /// The level is not a number.
    #[error("property {PROPERTY_DELAY_LEVEL}={0:?} is not a delay level number")]
    NotANumber(String),
    /// A delayed record in a batch of more than one.
    #[error("delayed messages ({PROPERTY_DELAY_LEVEL}={0}) cannot be sent in a batch; send them one by one")]
    InBatch(u32),
}

/// Why a scheduled message has no destination to go back to.
#[derive(Debug, Error)]
pub(crate) enum NoDestination {
    /// No real-topic property.
    #[error("no {PROPERTY_REAL_TOPIC} property")]
    NoTopic,
    /// A real-topic property that is not a topic name.
    #[error("bad {PROPERTY_REAL_TOPIC}: {0}")]
    BadTopic(NameError),
    /// No real-queue property, or not a number.
    #[error("no valid {PROPERTY_REAL_QUEUE_ID} property")]
    NoQueue,
}

/// The delay level a producer asked for with the `DELAY` property, read
/// from the raw records of a send: `None` when no record asks for one (or
/// asks for level 0), `Some(level)` for a single delayed record.
///
/// # Errors
/// A level that is not a number, or a delayed record in a batch of more
/// than one (RocketMQ refuses those too: one batch goes to one queue, but
/// each level is its own queue).
pub(crate) fn requested_level(body: &[u8], count: u32) -> Result<Option<u32>, DelayRequestError> {
    let mut found = None;
    for rec in raw::records(body) {
        let Some(v) = raw::property(rec, PROPERTY_DELAY_LEVEL) else {
            continue;
        };
        let level: u32 = v
            .trim()
            .parse()
            .map_err(|_| DelayRequestError::NotANumber(v.to_string()))?;
        if level == 0 {
            continue;
        }
        if count > 1 {
            return Err(DelayRequestError::InBatch(level));
        }
        found = Some(level);
    }
    Ok(found)
}

/// `msg` (addressed to its real topic) rewritten for the schedule topic.
pub(crate) fn into_schedule(
    mut msg: Message,
    schedule_topic: &TopicName,
    real_queue: QueueId,
    level: u32,
) -> Message {
    msg.properties.insert(
        PROPERTY_REAL_TOPIC.to_string(),
        msg.topic.as_str().to_string(),
    );
    msg.properties.insert(
        PROPERTY_REAL_QUEUE_ID.to_string(),
        real_queue.get().to_string(),
    );
    msg.properties
        .insert(PROPERTY_DELAY_LEVEL.to_string(), level.to_string());
    msg.topic = schedule_topic.clone();
    msg
}

/// A scheduled message rewritten for its real topic, and its real queue.
///
/// # Errors
/// The scheduling properties are missing or invalid (not a message this
/// broker scheduled).
pub(crate) fn out_of_schedule(mut msg: Message) -> Result<(Message, QueueId), NoDestination> {
    let topic = msg
        .properties
        .remove(PROPERTY_REAL_TOPIC)
        .ok_or(NoDestination::NoTopic)?;
    let topic = TopicName::new(topic).map_err(NoDestination::BadTopic)?;
    let queue = msg
        .properties
        .remove(PROPERTY_REAL_QUEUE_ID)
        .and_then(|q| q.parse::<u32>().ok())
        .ok_or(NoDestination::NoQueue)?;
    msg.properties.remove(PROPERTY_DELAY_LEVEL);
    msg.topic = topic;
    Ok((msg, QueueId::new(queue)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ferromq_protocol::record::{encode, BornInfo};

    fn enc(m: &Message, out: &mut BytesMut) {
        let born = BornInfo {
            timestamp: 1,
            host: "127.0.0.1:1".parse().unwrap(),
            flags: 0,
            reconsume_times: 0,
        };
        encode(m, born, 1 << 20, out).unwrap();
    }

    fn msg() -> Message {
        Message::new(TopicName::new("Orders").unwrap(), &b"x"[..])
            .with_tags("TagA")
            .with_key("k")
            .with_property("user", "u")
    }

    #[test]
    fn requested_levels() {
        let mut b = BytesMut::new();
        enc(&msg(), &mut b);
        assert_eq!(requested_level(&b, 1), Ok(None));
        let mut d = BytesMut::new();
        enc(&msg().with_property("DELAY", "3"), &mut d);
        assert_eq!(requested_level(&d, 1), Ok(Some(3)));
        let mut z = BytesMut::new();
        enc(&msg().with_property("DELAY", "0"), &mut z);
        assert_eq!(requested_level(&z, 1), Ok(None));
        let mut bad = BytesMut::new();
        enc(&msg().with_property("DELAY", "soon"), &mut bad);
        assert_eq!(
            requested_level(&bad, 1),
            Err(DelayRequestError::NotANumber("soon".into()))
        );
        b.extend_from_slice(&d);
        assert_eq!(requested_level(&b, 2), Err(DelayRequestError::InBatch(3)));
    }

    #[test]
    fn round_trip_through_the_schedule_topic() {
        let sched = TopicName::new("SCHEDULE_TOPIC_XXXX").unwrap();
        let s = into_schedule(msg(), &sched, QueueId::new(5), 4);
        assert_eq!(s.topic, sched);
        assert_eq!(s.properties["REAL_TOPIC"], "Orders");
        assert_eq!(s.properties["REAL_QID"], "5");
        assert_eq!(s.properties["DELAY"], "4");
        let (back, q) = out_of_schedule(s).unwrap();
        assert_eq!(q, QueueId::new(5));
        assert_eq!(back, msg());
        assert!(matches!(
            out_of_schedule(msg()),
            Err(NoDestination::NoTopic)
        ));
    }
}
