//! Client flows against the mock cluster in [`crate::mock`].

mod admin;
mod consumer;
mod failover;
mod hung;
mod namesrv;
mod producer;
mod query;

use std::time::Duration;

use ferromq_protocol::{Message, TopicName};

use crate::mock::MockCluster;
use crate::{Producer, StoredMessage};

pub(crate) fn topic(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

pub(crate) fn msg(t: &str, body: impl Into<String>) -> Message {
    Message::new(topic(t), body.into())
}

pub(crate) fn producer(c: &MockCluster) -> Producer {
    Producer::builder()
        .client(c.client())
        .group("test-producer")
        .send_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Polls until `n` messages arrived or `within` passed.
pub(crate) async fn poll_n(
    consumer: &crate::PullConsumer,
    n: usize,
    within: Duration,
) -> Vec<StoredMessage> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
    }
    out
}
