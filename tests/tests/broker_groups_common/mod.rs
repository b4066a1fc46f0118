//! Helpers shared by the `broker_groups_*` tests: raw connections to the
//! broker, captured broker notifications, heartbeats and pulls.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferromq_protocol::header::{
    ConsumeType, ConsumerData, Empty, GetConsumerListRequest, GetMaxOffsetRequest,
    HeartbeatRequest, MessageModel, PullMessageRequest, PullMessageResponse, Subscription,
};
use ferromq_protocol::record::{self, StoredMessage};
use ferromq_protocol::{decode_header, Frame, GroupName, QueueId, QueueOffset, Rpc, TopicName};
use ferromq_remoting::{Connection, Reply};
use tokio::sync::mpsc;

pub const RPC: Duration = Duration::from_secs(5);

pub fn group(name: &str) -> GroupName {
    GroupName::new(name).unwrap()
}

pub fn topic(name: &str) -> TopicName {
    TopicName::new(name).unwrap()
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub async fn connect(addr: &str) -> Connection {
    Connection::connect(addr, RPC).await.unwrap()
}

/// Requests the broker sent to one connection on its own.
pub struct Pushes {
    rx: mpsc::UnboundedReceiver<Frame>,
}

/// Captures every notification the broker sends on `conn`.
pub fn capture(conn: &Connection) -> Pushes {
    let (tx, rx) = mpsc::unbounded_channel();
    conn.set_push_handler(Arc::new(move |f: Frame| {
        let _ = tx.send(f);
    }));
    Pushes { rx }
}

impl Pushes {
    /// The next notification of type `R`, skipping others; panics after
    /// `timeout`.
    pub async fn next<R: Rpc>(&mut self, timeout: Duration) -> R {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let f = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {:?} within {timeout:?}", R::CODE))
                .expect("connection gone");
            if f.code == R::CODE.as_u16() {
                return decode_header(&f.header).unwrap();
            }
        }
    }

    /// Notifications of type `R` already received.
    pub fn drain<R: Rpc>(&mut self) -> Vec<R> {
        let mut out = Vec::new();
        while let Ok(f) = self.rx.try_recv() {
            if f.code == R::CODE.as_u16() {
                out.push(decode_header(&f.header).unwrap());
            }
        }
        out
    }
}

pub fn consumer_data(g: &GroupName, t: &TopicName, expression: &str) -> ConsumerData {
    ConsumerData {
        group: g.clone(),
        consume_type: ConsumeType::Push,
        model: MessageModel::Clustering,
        subscriptions: vec![Subscription {
            topic: t.clone(),
            expression: expression.to_string(),
        }],
    }
}

pub async fn heartbeat(conn: &Connection, client_id: &str, data: &ConsumerData) {
    conn.call(
        &HeartbeatRequest {
            client_id: client_id.to_string(),
            consumers: vec![data.clone()],
            producers: Vec::new(),
            version: "test".into(),
        },
        Bytes::new(),
        RPC,
    )
    .await
    .unwrap();
}

pub async fn call<R: Rpc>(conn: &Connection, req: &R) -> R::Response {
    conn.call(req, Bytes::new(), RPC).await.unwrap().header
}

pub async fn ok(conn: &Connection, req: &impl Rpc<Response = Empty>) {
    call(conn, req).await;
}

pub async fn consumer_ids(conn: &Connection, g: &GroupName) -> Vec<String> {
    call(conn, &GetConsumerListRequest { group: g.clone() })
        .await
        .client_ids
}

pub async fn max_offset(conn: &Connection, t: &TopicName, q: u32) -> u64 {
    call(
        conn,
        &GetMaxOffsetRequest {
            topic: t.clone(),
            queue_id: QueueId::new(q),
        },
    )
    .await
    .offset
    .get()
}

pub async fn pull(
    conn: &Connection,
    g: &GroupName,
    t: &TopicName,
    q: u32,
    offset: u64,
    expression: Option<&str>,
    hold: Duration,
) -> Reply<PullMessageResponse> {
    conn.call(
        &PullMessageRequest {
            consumer_group: g.clone(),
            topic: t.clone(),
            queue_id: QueueId::new(q),
            queue_offset: QueueOffset::new(offset),
            max_messages: 32,
            max_bytes: 1 << 20,
            hold_ms: hold.as_millis() as u64,
            expression: expression.map(str::to_string),
        },
        Bytes::new(),
        RPC + hold,
    )
    .await
    .unwrap()
}

/// The message at `offset` of a queue (pulled without holding).
pub async fn read_one(conn: &Connection, t: &TopicName, q: u32, offset: u64) -> StoredMessage {
    let r = pull(conn, &group("reader"), t, q, offset, None, Duration::ZERO).await;
    let msgs = record::decode_all(&r.body).unwrap();
    msgs.into_iter().next().expect("no message at that offset")
}
