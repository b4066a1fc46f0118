//! A broker with thousands of topics registers, and a NameServer that knows
//! them all lists them: both lists travel in the frame body, since they
//! would not fit in the 64 KiB header.

// Helpers outside #[test] fns are not covered by clippy.toml's test allowance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{register, topic, topic_list, TestServer, TIMEOUT};
use ferromq_client::{AdminClient, ClientConfig, MqClient};
use ferromq_nameserver::NameServerConfig;
use ferromq_protocol::header::{GetAllTopicListRequest, GetRouteInfoRequest, TopicList};
use ferromq_protocol::{encode_header, HeaderError, MAX_HEADER_LEN};

const TOPICS: usize = 5_000;

#[tokio::test]
async fn five_thousand_topics_register_route_and_list() {
    // Zero-padded, so creation order is the NameServer's sorted order.
    let names: Vec<String> = (0..TOPICS)
        .map(|i| format!("orders-eu-west-1-warehouse-events-{i:05}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let reg = register("broker-a", 0, "10.0.0.1:10911", &refs);

    // The old layout carried this list in the header: it would not fit.
    let body = reg.body.encode().unwrap();
    assert!(
        body.len() > MAX_HEADER_LEN,
        "topic list is only {} bytes; the test proves nothing",
        body.len()
    );
    assert!(matches!(
        encode_header(&reg.body.topics),
        Err(HeaderError::TooLarge { .. })
    ));

    let server = TestServer::start(NameServerConfig::default()).await;
    let conn = server.connect().await;
    let r = reg.send(&conn).await.unwrap();
    assert_eq!(r.header.master_addr, None);

    for name in [&names[0], &names[TOPICS - 1]] {
        let route = conn
            .call(
                &GetRouteInfoRequest { topic: topic(name) },
                Bytes::new(),
                TIMEOUT,
            )
            .await
            .unwrap()
            .header;
        assert_eq!(route.queue_datas.len(), 1, "{name}");
        assert_eq!(route.queue_datas[0].broker_name.as_str(), "broker-a");
        assert_eq!(route.queue_datas[0].write_queues, 8);
        assert_eq!(
            route.broker_datas[0].master_addr(),
            Some("10.0.0.1:10911"),
            "{name}"
        );
    }

    // The raw reply: names in the body, which is itself over a header's size.
    let reply = conn
        .call(&GetAllTopicListRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap();
    assert!(reply.body.len() > MAX_HEADER_LEN);
    let listed = TopicList::decode(&reply.body).unwrap().topics;
    assert_eq!(listed.len(), TOPICS);
    let listed: Vec<&str> = listed.iter().map(|t| t.as_str()).collect();
    assert_eq!(listed, refs);
    assert_eq!(topic_list(&conn).await.len(), TOPICS);

    // And through the client's admin API, as `mqadmin topicList` reads it.
    let client = MqClient::new(
        ClientConfig::builder()
            .namesrv_addr(&server.addr)
            .request_timeout(TIMEOUT)
            .build()
            .unwrap(),
    );
    let admin = AdminClient::new(client.clone());
    let listed = admin.topic_list().await.unwrap();
    assert_eq!(listed.len(), TOPICS);
    assert_eq!(listed[0].as_str(), names[0]);
    assert_eq!(listed[TOPICS - 1].as_str(), names[TOPICS - 1]);
    client.shutdown();

    server.stop().await.unwrap();
}
