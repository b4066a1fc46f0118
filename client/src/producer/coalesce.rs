//! Automatic batching of concurrent single-message sends.
//!
//! While fewer than `max_in_flight` requests of a topic are on the wire, a
//! [`super::Producer::send`] goes out at once, alone: no linger, no added
//! latency. Past that, sends wait in the topic's lane; when a request of
//! the topic finishes, whatever waits there (up to the batch limits) goes
//! out as one batch request. Under load many concurrent senders then cost
//! the broker a few large appends instead of one small request each — the
//! way a sync-flush broker's group commit amortises fsyncs, applied to
//! requests.
//!
//! A coalesced batch is sent and retried like any batch; every message in
//! it gets its own [`SendResult`] (or a copy of the batch's error). Only
//! sends to "any queue of the topic" are coalesced: a send to a chosen
//! queue, a delayed message and an explicit batch go out as they are.

use std::collections::{HashMap, VecDeque};

use bytes::BytesMut;
use ferromq_protocol::TopicName;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::batch::EncodedBatch;
use super::SendResult;
use crate::error::{ClientError, Result};

/// Largest number of messages in one coalesced batch, so one request
/// stays short for the broker and its answer comes back soon.
const MAX_COALESCED: usize = 1024;

pub(crate) type Reply = oneshot::Sender<Result<SendResult>>;

/// One message waiting for its topic's next request.
pub(crate) struct Waiting {
    pub(crate) one: EncodedBatch,
    pub(crate) deadline: Instant,
    pub(crate) reply: Reply,
}

#[derive(Default)]
struct Lane {
    in_flight: usize,
    waiting: VecDeque<Waiting>,
}

/// Per-topic lanes of a producer.
pub(crate) struct Lanes {
    max_in_flight: usize,
    max_bytes: usize,
    lanes: Mutex<HashMap<TopicName, Lane>>,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("max_in_flight", &self.max_in_flight)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// What a send does after [`Lanes::admit`].
pub(crate) enum Admitted {
    /// Send it now; the caller holds one of the topic's in-flight slots and
    /// must hand it back with [`Lanes::release`].
    Go(EncodedBatch),
    /// It waits in the lane; the answer comes on this channel.
    Wait(oneshot::Receiver<Result<SendResult>>),
}

/// Several waiting messages merged into one batch, and whom to answer.
pub(crate) struct Group {
    pub(crate) batch: EncodedBatch,
    pub(crate) deadline: Instant,
    pub(crate) replies: Vec<Reply>,
}

impl Lanes {
    /// `max_in_flight` requests per topic before sends start to wait;
    /// coalesced batches stay within `max_bytes` of records.
    pub(crate) fn new(max_in_flight: usize, max_bytes: usize) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            max_bytes,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn admit(&self, one: EncodedBatch, deadline: Instant) -> Admitted {
        let mut lanes = self.lanes.lock();
        let lane = lanes.entry(one.topic.clone()).or_default();
        if lane.in_flight < self.max_in_flight {
            lane.in_flight += 1;
            return Admitted::Go(one);
        }
        let (reply, rx) = oneshot::channel();
        lane.waiting.push_back(Waiting {
            one,
            deadline,
            reply,
        });
        Admitted::Wait(rx)
    }

    /// Hands back an in-flight slot of `topic`. If messages wait, the slot
    /// is kept for them and they come back as the next group to send.
    pub(crate) fn release(&self, topic: &TopicName) -> Option<Group> {
        let mut lanes = self.lanes.lock();
        let lane = lanes.get_mut(topic)?;
        // Whoever waited past its deadline has given up: its send
        // reported a timeout, so it must not be stored now.
        let now = Instant::now();
        lane.waiting
            .retain(|w| w.deadline > now && !w.reply.is_closed());
        if lane.waiting.is_empty() {
            lane.in_flight -= 1;
            if lane.in_flight == 0 {
                lanes.remove(topic);
            }
            return None;
        }
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(w) = lane.waiting.front() {
            let len = w.one.body.len();
            if !taken.is_empty() && (bytes + len > self.max_bytes || taken.len() >= MAX_COALESCED) {
                break;
            }
            bytes += len;
            taken.extend(lane.waiting.pop_front());
        }
        Some(merge(taken))
    }
}

/// One batch of the waiting messages' records, back to back, due by the
/// earliest deadline among them.
fn merge(taken: Vec<Waiting>) -> Group {
    let topic = taken[0].one.topic.clone();
    let mut body = BytesMut::with_capacity(taken.iter().map(|w| w.one.body.len()).sum());
    let mut sizes = Vec::with_capacity(taken.len());
    let mut unique_ids = Vec::with_capacity(taken.len());
    let mut replies = Vec::with_capacity(taken.len());
    let mut deadline = taken[0].deadline;
    for w in taken {
        body.extend_from_slice(&w.one.body);
        sizes.extend(w.one.sizes);
        unique_ids.extend(w.one.unique_ids);
        deadline = deadline.min(w.deadline);
        replies.push(w.reply);
    }
    Group {
        batch: EncodedBatch {
            topic,
            body: body.freeze(),
            sizes,
            unique_ids,
        },
        deadline,
        replies,
    }
}

/// Answers every message of a group from the batch's outcome.
pub(crate) fn answer(replies: Vec<Reply>, outcome: Result<Vec<SendResult>>) {
    match outcome {
        Ok(results) => {
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(r));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.duplicate()));
            }
        }
    }
}

/// Waits for the answer to a message that waits in a lane.
pub(crate) async fn wait(
    rx: oneshot::Receiver<Result<SendResult>>,
    deadline: Instant,
    topic: &TopicName,
    timeout_ms: u128,
) -> Result<SendResult> {
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(r)) => r,
        // The group's sender went away: only at runtime shutdown.
        Ok(Err(_)) => Err(ClientError::Shutdown),
        Err(_) => Err(ClientError::Timeout {
            addr: format!("topic {topic}"),
            millis: timeout_ms,
        }),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn one(topic: &str, len: usize, id: &str) -> EncodedBatch {
        EncodedBatch {
            topic: TopicName::new(topic).unwrap(),
            body: Bytes::from(vec![id.as_bytes()[0]; len]),
            sizes: vec![len as u64],
            unique_ids: vec![id.to_string()],
        }
    }

    fn later() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    #[tokio::test]
    async fn sends_go_alone_until_the_lane_is_busy_then_merge_in_order() {
        let lanes = Lanes::new(2, 1 << 20);
        let t = TopicName::new("T").unwrap();
        assert!(matches!(
            lanes.admit(one("T", 3, "a"), later()),
            Admitted::Go(_)
        ));
        assert!(matches!(
            lanes.admit(one("T", 3, "b"), later()),
            Admitted::Go(_)
        ));
        // Another topic has its own lane.
        assert!(matches!(
            lanes.admit(one("U", 3, "u"), later()),
            Admitted::Go(_)
        ));
        let mut rxs = Vec::new();
        for id in ["c", "d", "e"] {
            match lanes.admit(one("T", 2, id), later()) {
                Admitted::Wait(rx) => rxs.push(rx),
                Admitted::Go(_) => panic!("{id} should wait"),
            }
        }
        let g = lanes.release(&t).expect("c, d and e wait");
        assert_eq!(g.batch.unique_ids, ["c", "d", "e"]);
        assert_eq!(g.batch.sizes, [2, 2, 2]);
        assert_eq!(&g.batch.body[..], b"ccddee");
        assert_eq!(g.replies.len(), 3);
        // The group kept the slot; the two slots empty out one by one.
        assert!(lanes.release(&t).is_none());
        assert!(matches!(
            lanes.admit(one("T", 3, "f"), later()),
            Admitted::Go(_)
        ));
        assert!(lanes.release(&t).is_none());
        assert!(lanes.release(&t).is_none());
        assert!(
            lanes.lanes.lock().get(&t).is_none(),
            "idle lanes are dropped"
        );
    }

    #[tokio::test]
    async fn groups_respect_the_byte_limit_and_skip_abandoned_sends() {
        let lanes = Lanes::new(1, 10);
        let t = TopicName::new("T").unwrap();
        assert!(matches!(
            lanes.admit(one("T", 1, "a"), later()),
            Admitted::Go(_)
        ));
        let mut keep = Vec::new();
        for (i, id) in ["b", "c", "d", "e"].iter().enumerate() {
            let Admitted::Wait(rx) = lanes.admit(one("T", 4, id), later()) else {
                panic!("{id} should wait");
            };
            // The caller of "c" gave up (its future was dropped).
            if i != 1 {
                keep.push(rx);
            }
        }
        let g = lanes.release(&t).unwrap();
        assert_eq!(g.batch.unique_ids, ["b", "d"], "10 bytes hold two of 4");
        let g2 = lanes.release(&t).unwrap();
        assert_eq!(g2.batch.unique_ids, ["e"]);
        answer(
            g.replies,
            Err(ClientError::Timeout {
                addr: "x".into(),
                millis: 5,
            }),
        );
        let r = keep.remove(0).await.unwrap();
        assert!(matches!(r, Err(ClientError::Timeout { millis: 5, .. })));
    }

    #[tokio::test]
    async fn a_message_larger_than_the_limit_still_goes_alone() {
        let lanes = Lanes::new(1, 10);
        let t = TopicName::new("T").unwrap();
        assert!(matches!(
            lanes.admit(one("T", 1, "a"), later()),
            Admitted::Go(_)
        ));
        let Admitted::Wait(_rx) = lanes.admit(one("T", 50, "b"), later()) else {
            panic!("should wait");
        };
        let g = lanes.release(&t).unwrap();
        assert_eq!(g.batch.body.len(), 50);
    }
}
