//! Registration, lookups and deletion over real TCP.

// Helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{register, topic, topic_list, TestServer, TIMEOUT};
use ferromq_nameserver::{NameServerConfig, NameServerError};
use ferromq_protocol::header::{
    DeleteTopicInNamesrvRequest, GetAllTopicListRequest, GetClusterInfoRequest,
    GetRouteInfoRequest, UnregisterBrokerRequest,
};
use ferromq_protocol::{BrokerName, ClusterName, ResponseCode};
use ferromq_remoting::RemotingError;
use std::time::Duration;

#[tokio::test]
async fn register_lookup_list_delete() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let conn = server.connect().await;
    let call_body = Bytes::new;

    let r = register("broker-a", 0, "10.0.0.1:10911", &["t1", "t2"])
        .send(&conn)
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::Success);
    assert_eq!(r.header.master_addr, None);
    register("broker-b", 0, "10.0.0.2:10911", &["t2"])
        .send(&conn)
        .await
        .unwrap();
    let slave = register("broker-a", 1, "10.0.0.3:10911", &["ignored"])
        .send(&conn)
        .await
        .unwrap();
    assert_eq!(slave.header.master_addr.as_deref(), Some("10.0.0.1:10911"));

    // Route of a topic on two broker names, one with a slave.
    let route = conn
        .call(
            &GetRouteInfoRequest { topic: topic("t2") },
            call_body(),
            TIMEOUT,
        )
        .await
        .unwrap()
        .header;
    let names: Vec<_> = route
        .queue_datas
        .iter()
        .map(|q| q.broker_name.to_string())
        .collect();
    assert_eq!(names, ["broker-a", "broker-b"]);
    assert_eq!(route.broker_datas.len(), 2);
    let a = &route.broker_datas[0];
    assert_eq!(a.addrs.len(), 2);
    assert_eq!(a.master_addr(), Some("10.0.0.1:10911"));
    assert_eq!(a.addrs.get(&1).map(String::as_str), Some("10.0.0.3:10911"));
    assert_eq!(route.queue_datas[0].read_queues, 8);

    // Cluster info.
    let info = conn
        .call(&GetClusterInfoRequest {}, call_body(), TIMEOUT)
        .await
        .unwrap()
        .header;
    let cluster = &info.clusters[&ClusterName::new("DefaultCluster").unwrap()];
    assert_eq!(cluster.len(), 2);
    assert_eq!(info.brokers.len(), 2);
    assert_eq!(info.live.len(), 3);
    let addrs: Vec<_> = info.live.iter().map(|l| l.addr.as_str()).collect();
    assert_eq!(
        addrs,
        ["10.0.0.1:10911", "10.0.0.2:10911", "10.0.0.3:10911"]
    );
    assert!(info.live.iter().all(|l| l.version == "test-1"));
    assert!(info
        .live
        .iter()
        .all(|l| l.last_heartbeat_ago_ms < TIMEOUT.as_millis() as u64));

    // Topic list: the slave's "ignored" topic is not there.
    assert_eq!(topic_list(&conn).await, [topic("t1"), topic("t2")]);

    // Delete, then the topic is gone.
    conn.call(
        &DeleteTopicInNamesrvRequest { topic: topic("t1") },
        call_body(),
        TIMEOUT,
    )
    .await
    .unwrap();
    let err = conn
        .call(
            &GetRouteInfoRequest { topic: topic("t1") },
            call_body(),
            TIMEOUT,
        )
        .await
        .unwrap_err();
    match err {
        RemotingError::Server { code, message, .. } => {
            assert_eq!(code, ResponseCode::TopicNotExist);
            assert_eq!(message, "no route for topic t1");
        }
        other => panic!("expected TopicNotExist, got {other:?}"),
    }
    assert_eq!(topic_list(&conn).await, [topic("t2")]);

    // Unregistering broker-b leaves t2 on broker-a only.
    conn.call(
        &UnregisterBrokerRequest {
            cluster: ClusterName::new("DefaultCluster").unwrap(),
            broker_name: BrokerName::new("broker-b").unwrap(),
            broker_id: 0,
            broker_addr: "10.0.0.2:10911".into(),
        },
        call_body(),
        TIMEOUT,
    )
    .await
    .unwrap();
    let route = conn
        .call(
            &GetRouteInfoRequest { topic: topic("t2") },
            call_body(),
            TIMEOUT,
        )
        .await
        .unwrap()
        .header;
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(route.broker_datas.len(), 1);
    assert_eq!(route.broker_datas[0].broker_name.as_str(), "broker-a");

    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = TestServer::start(NameServerConfig::default()).await;
    let addr = server.addr.clone();
    let conn = server.connect().await;
    conn.call(&GetAllTopicListRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap();
    server.stop().await.unwrap();
    common::eventually("the connection to close", || {
        let closed = conn.is_closed();
        async move { closed }
    })
    .await;
    assert!(
        ferromq_remoting::Connection::connect(&addr, TIMEOUT)
            .await
            .is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn invalid_config_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = NameServerConfig {
        scan_interval: Duration::ZERO,
        ..Default::default()
    };
    let res = ferromq_nameserver::run(config, listener, Default::default()).await;
    assert!(matches!(res, Err(NameServerError::InvalidConfig(_))));
}
