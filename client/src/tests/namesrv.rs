use std::time::Duration;

use super::topic;
use crate::mock::MockCluster;
use crate::{ClientConfig, ClientError, MqClient};

fn client(addrs: &str) -> MqClient {
    MqClient::new(
        ClientConfig::builder()
            .namesrv_addr(addrs)
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
}

async fn dead_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn an_unreachable_namesrv_is_skipped() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 2);
    let dead = dead_addr().await;
    let client = client(&format!("{dead};{}", c.namesrv_addr));
    let route = client.topic_route(&topic("T")).await.unwrap();
    assert_eq!(route.write_queues().len(), 2);
}

#[tokio::test]
async fn an_error_answer_does_not_move_on() {
    let empty = MockCluster::start(&["broker-x"]).await;
    let full = MockCluster::start(&["broker-a"]).await;
    full.create_topic("T", 2);
    let client = client(&format!("{};{}", empty.namesrv_addr, full.namesrv_addr));
    assert!(matches!(
        client.topic_route(&topic("T")).await,
        Err(ClientError::NoRoute(_))
    ));
}

#[tokio::test]
async fn no_namesrv_at_all_is_a_clear_error() {
    let client = client(&format!("{};{}", dead_addr().await, dead_addr().await));
    let e = client.topic_route(&topic("T")).await.unwrap_err();
    assert!(matches!(e, ClientError::NameServerUnavailable(_)), "{e}");
    assert!(e.to_string().contains("no NameServer reachable"));
}
