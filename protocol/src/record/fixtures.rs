//! Messages and born fields shared by the record tests.

use bytes::BytesMut;

use super::{encode, BornInfo, Message};
use crate::names::TopicName;

pub(super) fn born() -> BornInfo {
    BornInfo {
        timestamp: 1_700_000_000_000,
        host: "10.0.0.7:5555".parse().unwrap(),
        flags: 0,
        reconsume_times: 0,
    }
}

pub(super) fn sample() -> Message {
    Message::new(TopicName::new("TopicTest").unwrap(), &b"hello"[..])
        .with_tags("TagA")
        .with_key("order-1")
        .with_key("user-9")
        .with_property("a", "1")
}

pub(super) fn encoded(m: &Message) -> BytesMut {
    let mut b = BytesMut::new();
    encode(m, born(), 1 << 20, &mut b).unwrap();
    b
}
