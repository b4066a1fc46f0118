//! A live broker answers bad input with an error or a closed connection, and
//! keeps serving everybody else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_remoting::Connection;

use ferromq_protocol::header::{
    PullMessageRequest, SendMessageRequest, TopicConfig, UpdateTopicRequest, PERM_READ_WRITE,
};
use ferromq_protocol::record;
use ferromq_protocol::{
    encode_header, GroupName, Message, QueueId, QueueOffset, RequestCode, ResponseCode, TopicName,
};
use ferromq_tests::{encode_records, raw_send, TestCluster};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

fn topic() -> TopicName {
    TopicName::new("BadInput").unwrap()
}

fn records(body_len: usize, n: usize) -> Bytes {
    let msgs: Vec<Message> = (0..n)
        .map(|i| Message::new(topic(), vec![b'x'; body_len]).with_key(format!("k{i}")))
        .collect();
    encode_records(&msgs)
}

async fn send(
    conn: &Connection,
    body: Bytes,
    count: u32,
) -> Result<u64, ferromq_remoting::RemotingError> {
    raw_send(conn, &topic(), body, count).await
}

/// The broker still appends and serves reads: returns the new message's offset.
async fn still_serving(addr: &str) -> u64 {
    let conn = Connection::connect(addr, T).await.unwrap();
    let off = send(&conn, records(10, 1), 1).await.unwrap();
    let pull = PullMessageRequest {
        consumer_group: GroupName::new("g").unwrap(),
        topic: topic(),
        queue_id: QueueId::new(0),
        queue_offset: QueueOffset::new(off),
        max_messages: 1,
        max_bytes: 1 << 20,
        hold_ms: 0,
        expression: None,
    };
    let r = conn.call(&pull, Bytes::new(), T).await.unwrap();
    assert_eq!(r.code, ResponseCode::Success);
    let msgs = record::decode_all(&r.body).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].queue_offset.get(), off);
    off
}

async fn assert_closed(mut s: TcpStream) {
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(T, s.read(&mut buf))
        .await
        .expect("connection was not closed");
    assert!(
        matches!(r, Ok(0) | Err(_)),
        "expected a closed connection, read {r:?}"
    );
}

async fn setup() -> TestCluster {
    let c = TestCluster::start().await;
    create_topic(&c).await;
    c
}

/// Creates the test topic directly on the broker (one queue).
async fn create_topic(c: &TestCluster) {
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let config = TopicConfig {
        name: topic(),
        read_queues: 1,
        write_queues: 1,
        perm: PERM_READ_WRITE,
    };
    conn.call(&UpdateTopicRequest { config }, Bytes::new(), T)
        .await
        .unwrap();
}

#[tokio::test]
async fn garbage_bytes_close_only_that_connection() {
    let c = setup().await;
    let bystander = Connection::connect(c.broker_addr(), T).await.unwrap();
    let mut s = TcpStream::connect(c.broker_addr()).await.unwrap();
    s.write_all(b"\x00\x00\x00\x20GET / HTTP/1.1\r\nHost: example\r\n\r\n........")
        .await
        .unwrap();
    assert_closed(s).await;
    let first = still_serving(c.broker_addr()).await;
    // A connection opened before the garbage arrived is unaffected.
    assert_eq!(send(&bystander, records(5, 1), 1).await.unwrap(), first + 1);
}

#[tokio::test]
async fn oversized_frame_length_closes_the_connection() {
    let c = setup().await;
    let mut s = TcpStream::connect(c.broker_addr()).await.unwrap();
    s.write_all(&0xFFFF_FFF0u32.to_be_bytes()).await.unwrap();
    s.write_all(&[1u8; 64]).await.unwrap();
    assert_closed(s).await;
    still_serving(c.broker_addr()).await;
}

#[tokio::test]
async fn message_over_max_size_is_refused_and_nothing_is_written() {
    let c = TestCluster::start_with(|b| b.store.max_message_size = 64 * 1024).await;
    create_topic(&c).await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let err = send(&conn, records(64 * 1024 + 1, 1), 1).await.unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::MessageIllegal),
        "{err}"
    );
    // A batch with one oversized record is refused whole.
    let mut batch = BytesMut::from(&records(10, 1)[..]);
    batch.extend_from_slice(&records(70_000, 1));
    let err = send(&conn, batch.freeze(), 2).await.unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::MessageIllegal),
        "{err}"
    );
    // Nothing of either landed: the next message gets offset 0.
    assert_eq!(still_serving(c.broker_addr()).await, 0);
}

#[tokio::test]
async fn corrupt_record_and_count_mismatch_are_refused() {
    let c = setup().await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let mut bad = BytesMut::from(&records(100, 1)[..]);
    let n = bad.len();
    bad[n - 1] ^= 0xFF;
    let err = send(&conn, bad.freeze(), 1).await.unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::MessageIllegal),
        "{err}"
    );
    let err = send(&conn, records(10, 2), 3).await.unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::MessageIllegal),
        "{err}"
    );
    assert_eq!(still_serving(c.broker_addr()).await, 0);
}

#[tokio::test]
async fn invalid_topic_names_are_refused() {
    #[derive(Serialize)]
    struct RawSend {
        producer_group: Option<String>,
        topic: String,
        queue_id: u32,
        count: u32,
    }
    let c = setup().await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    for name in ["../x".to_string(), String::new(), "x".repeat(200)] {
        assert!(TopicName::new(name.clone()).is_err());
        let header = encode_header(&RawSend {
            producer_group: None,
            topic: name.clone(),
            queue_id: 0,
            count: 1,
        })
        .unwrap();
        let f = conn
            .request(RequestCode::SendMessage.as_u16(), header, records(1, 1), T)
            .await
            .unwrap();
        assert_eq!(f.code, ResponseCode::BadRequest.as_u16(), "topic {name:?}");
    }
    // Nothing was created on disk for any of them.
    let cq = c.store_dir().join("consumequeue");
    let dirs: Vec<_> = std::fs::read_dir(&cq)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        dirs.iter().all(|d| d == "BadInput"),
        "unexpected queue dirs {dirs:?}"
    );
    assert!(!c.dir().join("x").exists());
    still_serving(c.broker_addr()).await;
}

#[tokio::test]
async fn unknown_code_and_unknown_topic_get_errors() {
    let c = setup().await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let f = conn
        .request(4242, Bytes::new(), Bytes::new(), T)
        .await
        .unwrap();
    assert_eq!(f.code, ResponseCode::RequestCodeNotSupported.as_u16());
    let f = conn
        .request(
            RequestCode::PullMessage.as_u16(),
            Bytes::from_static(&[0xFF; 9]),
            Bytes::new(),
            T,
        )
        .await
        .unwrap();
    assert_eq!(f.code, ResponseCode::BadRequest.as_u16());
    let req = SendMessageRequest {
        producer_group: None,
        topic: TopicName::new("NoSuchTopic").unwrap(),
        queue_id: QueueId::new(0),
        count: 1,
    };
    let err = conn.call(&req, records(1, 1), T).await.unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::TopicNotExist));
    assert!(err.to_string().contains("mqadmin updateTopic"), "{err}");
    still_serving(c.broker_addr()).await;
}
