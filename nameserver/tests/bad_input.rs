//! Malformed requests get error answers; malformed frames close only their

// Helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! own connection.

mod common;

use bytes::Bytes;
use common::{TestServer, TIMEOUT};
use ferromq_client::remoting::Connection;
use ferromq_nameserver::NameServerConfig;
use ferromq_protocol::header::{ErrorHeader, GetAllTopicListRequest};
use ferromq_protocol::{decode_header, encode_header, Frame, RequestCode, ResponseCode};
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
    let err = conn
        .call(
            &common::register("broker-a", 0, "", &["t1"]),
            Bytes::new(),
            TIMEOUT,
        )
        .await
        .unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::BadRequest));
    let list = conn
        .call(&GetAllTopicListRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap();
    assert!(list.header.topics.is_empty(), "nothing was registered");
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
