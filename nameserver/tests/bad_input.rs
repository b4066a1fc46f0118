//! Malformed requests get error answers; malformed frames close only their

// Helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! own connection.

mod common;

use bytes::Bytes;
use common::{TestServer, TIMEOUT};
use ferromq_nameserver::NameServerConfig;
use ferromq_protocol::header::{
    ErrorHeader, GetAllTopicListRequest, GetClusterInfoRequest, RegisterBrokerBody,
    RegisterBrokerRequest,
};
use ferromq_protocol::{decode_header, encode_header, Frame, RequestCode, ResponseCode};
use ferromq_remoting::Connection;
use ferromq_remoting::RemotingError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Same layout as a topic request, but the name is not validated.
#[derive(serde::Serialize)]
struct RawTopic {
    topic: String,
}

fn error_of(frame: &Frame) -> (Option<ResponseCode>, String) {
    let msg = decode_header::<ErrorHeader>(&frame.header).unwrap().message;
    (ResponseCode::from_u16(frame.code), msg)
}

async fn still_works(conn: &Connection) {
    let list = conn
        .call(&GetAllTopicListRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(list.code, ResponseCode::Success);
}

#[tokio::test]
async fn unknown_code_is_not_supported_and_connection_survives() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let conn = server.connect().await;
    for code in [9999u16, RequestCode::SendMessage.as_u16()] {
        let frame = conn
            .request(code, Bytes::new(), Bytes::new(), TIMEOUT)
            .await
            .unwrap();
        let (rc, msg) = error_of(&frame);
        assert_eq!(rc, Some(ResponseCode::RequestCodeNotSupported));
        assert!(
            msg.contains(&code.to_string()),
            "message names the code: {msg}"
        );
    }
    still_works(&conn).await;
}

#[tokio::test]
async fn garbage_header_is_bad_request() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let conn = server.connect().await;
    let bad_topic = encode_header(&RawTopic {
        topic: "../etc".into(),
    })
    .unwrap();
    let cases = [
        (RequestCode::RegisterBroker, Bytes::from_static(&[0xFF; 32])),
        (
            RequestCode::GetRouteInfoByTopic,
            Bytes::from_static(&[0x80]),
        ),
        (RequestCode::GetRouteInfoByTopic, bad_topic.clone()),
        (RequestCode::DeleteTopicInNamesrv, bad_topic),
        (
            RequestCode::GetAllTopicList,
            Bytes::from_static(b"trailing"),
        ),
    ];
    for (code, header) in cases {
        let frame = conn
            .request(code.as_u16(), header, Bytes::new(), TIMEOUT)
            .await
            .unwrap();
        let (rc, msg) = error_of(&frame);
        assert_eq!(rc, Some(ResponseCode::BadRequest), "{code}: {msg}");
        assert!(msg.contains("header"), "{code}: {msg}");
    }
    still_works(&conn).await;
}

#[tokio::test]
async fn empty_broker_address_is_bad_request() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let conn = server.connect().await;
    let err = common::register("broker-a", 0, "", &["t1"])
        .send(&conn)
        .await
        .unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::BadRequest));
    assert!(
        common::topic_list(&conn).await.is_empty(),
        "nothing was registered"
    );
}

/// Same layout as a registration body, but the names are not validated.
#[derive(serde::Serialize)]
struct RawBody {
    topics: Vec<(String, u32, u32, u8)>,
}

/// Sends `header` with each body; each must be refused as a bad body.
async fn refuse_all(conn: &Connection, header: &RegisterBrokerRequest, cases: &[(&str, Bytes)]) {
    for (what, body) in cases {
        match conn.call(header, body.clone(), TIMEOUT).await {
            Err(RemotingError::Server { code, message, .. }) => {
                assert_eq!(code, ResponseCode::BadRequest, "{what}: {message}");
                assert!(
                    message.starts_with("invalid RegisterBroker(103) body: "),
                    "{what}: {message}"
                );
            }
            other => panic!("{what}: expected BadRequest, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_register_body_is_bad_request_and_changes_nothing() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let conn = server.connect().await;
    let good = common::register("broker-a", 0, "10.0.0.1:10911", &["t1", "t2"]);
    let encoded = good.body.encode().unwrap();
    let mut trailing = encoded.to_vec();
    trailing.push(0);
    // Postcard, as a body; encode_header only adds a size check.
    let bad_name = encode_header(&RawBody {
        topics: vec![("t1".into(), 8, 8, 6), ("../etc".into(), 8, 8, 6)],
    })
    .unwrap();
    // The same layout with valid names decodes: only the name is wrong.
    let valid_names = encode_header(&RawBody {
        topics: vec![("t1".into(), 8, 8, 6), ("t3".into(), 8, 8, 6)],
    })
    .unwrap();
    assert_eq!(
        RegisterBrokerBody::decode(&valid_names)
            .unwrap()
            .topics
            .len(),
        2
    );
    let cases = [
        ("empty (topics in the header, as before)", Bytes::new()),
        ("garbage", Bytes::from_static(&[0xFF; 32])),
        ("truncated", encoded.slice(..encoded.len() - 1)),
        ("trailing bytes", Bytes::from(trailing)),
        ("invalid topic name", bad_name),
    ];
    // A new broker: nothing is registered.
    refuse_all(&conn, &good.header, &cases).await;
    let info = conn
        .call(&GetClusterInfoRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap()
        .header;
    assert!(info.live.is_empty(), "registered: {:?}", info.live);
    assert!(info.brokers.is_empty() && info.clusters.is_empty());
    assert!(common::topic_list(&conn).await.is_empty());

    // A registered master: a bad heartbeat leaves its topics alone (an
    // empty body read as "no topics" would drop them).
    good.send(&conn).await.unwrap();
    refuse_all(&conn, &good.header, &cases).await;
    assert_eq!(
        common::topic_list(&conn).await,
        [common::topic("t1"), common::topic("t2")]
    );
    still_works(&conn).await;
}

#[tokio::test]
async fn garbage_bytes_close_only_their_connection() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let bystander = server.connect().await;
    // An impossible length prefix, and a well-sized frame of an unknown version.
    let mut bad_version = vec![0, 0, 0, 16, 9];
    bad_version.extend_from_slice(&[0; 15]);
    for garbage in [vec![0xFF; 64], bad_version] {
        let mut raw = TcpStream::connect(&server.addr).await.unwrap();
        raw.write_all(&garbage).await.unwrap();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(TIMEOUT, raw.read(&mut buf))
            .await
            .expect("the server did not close the connection");
        // A clean close (0 bytes) or a reset; never an answer.
        assert!(matches!(read, Ok(0) | Err(_)), "unexpected read {read:?}");

        still_works(&bystander).await;
        let fresh = server.connect().await;
        still_works(&fresh).await;
    }
}
