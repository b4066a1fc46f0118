//! A broker that stops heartbeating disappears, end to end.

// Helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{eventually, register, topic, TestServer, TIMEOUT};
use ferromq_nameserver::NameServerConfig;
use ferromq_protocol::header::{GetClusterInfoRequest, GetRouteInfoRequest};
use ferromq_protocol::ResponseCode;

const EXPIRY: Duration = Duration::from_millis(300);

#[tokio::test]
async fn silent_broker_expires_with_the_default_timeout() {
    let server = TestServer::start(NameServerConfig {
        broker_expiry: EXPIRY,
        scan_interval: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let conn = server.connect().await;

    let before = Instant::now();
    register("broker-a", 0, "10.0.0.1:10911", &["t-a", "shared"])
        .send(&conn)
        .await
        .unwrap();
    // Asks for its own, long timeout: must outlive broker-a.
    let mut patient = register("broker-b", 0, "10.0.0.2:10911", &["t-b", "shared"]);
    patient.header.heartbeat_timeout_ms = Some(60_000);
    patient.send(&conn).await.unwrap();

    let live_addrs = || async {
        let info = conn
            .call(&GetClusterInfoRequest {}, Bytes::new(), TIMEOUT)
            .await
            .unwrap()
            .header;
        info.live.into_iter().map(|l| l.addr).collect::<Vec<_>>()
    };
    eventually("broker-a to expire", || async {
        live_addrs().await == ["10.0.0.2:10911"]
    })
    .await;
    assert!(
        before.elapsed() >= EXPIRY,
        "expired after {:?}, before its timeout",
        before.elapsed()
    );

    let err = conn
        .call(
            &GetRouteInfoRequest {
                topic: topic("t-a"),
            },
            Bytes::new(),
            TIMEOUT,
        )
        .await
        .unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::TopicNotExist));
    let shared = conn
        .call(
            &GetRouteInfoRequest {
                topic: topic("shared"),
            },
            Bytes::new(),
            TIMEOUT,
        )
        .await
        .unwrap()
        .header;
    assert_eq!(shared.queue_datas.len(), 1);
    assert_eq!(shared.broker_datas.len(), 1);
    assert_eq!(shared.broker_datas[0].broker_name.as_str(), "broker-b");
    let info = conn
        .call(&GetClusterInfoRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap()
        .header;
    assert_eq!(info.brokers.len(), 1);
    assert_eq!(info.clusters.values().map(|s| s.len()).sum::<usize>(), 1);
}
