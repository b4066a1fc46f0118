//! Broker-wide operations: runtime info, wiping and restoring the write
//! permission, and topics created on first send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use ferromq_client::{AdminClient, Message};
use ferromq_protocol::header::{
    AddWritePermRequest, GetBrokerRuntimeInfoRequest, WipeWritePermRequest, AUTO_CREATE_TOPIC,
    PERM_WRITE,
};
use ferromq_protocol::{BrokerName, ResponseCode, TopicName};
use ferromq_remoting::Connection;
use ferromq_tests::{encode_records, raw_send, wait_for, TestCluster};

const T: Duration = Duration::from_secs(5);

async fn send_one(
    conn: &Connection,
    topic: &TopicName,
) -> Result<u64, ferromq_remoting::RemotingError> {
    let records = encode_records(&[Message::new(topic.clone(), "x")]);
    raw_send(conn, topic, records, 1).await
}

async fn route_writable(admin: &AdminClient, topic: &TopicName) -> Option<bool> {
    let r = admin.topic_route(topic).await.ok()?;
    Some(r.queue_datas.iter().any(|q| q.perm & PERM_WRITE != 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_and_add_write_perm() {
    let mut c = TestCluster::start().await;
    let topic = c.create_topic("Maintenance", 2).await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    assert_eq!(send_one(&conn, &topic).await.unwrap(), 0);
    let name = BrokerName::new("broker-a").unwrap();

    let wrong = WipeWritePermRequest {
        broker_name: BrokerName::new("other").unwrap(),
    };
    let err = conn.call(&wrong, Bytes::new(), T).await.unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::BadRequest));

    let r = conn
        .call(
            &WipeWritePermRequest {
                broker_name: name.clone(),
            },
            Bytes::new(),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.header.topics, 1);
    let err = send_one(&conn, &topic).await.unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::NoPermission),
        "{err}"
    );
    wait_for("the route to lose write permission", T, || async {
        (route_writable(&admin, &topic).await == Some(false)).then_some(())
    })
    .await;
    // The wipe survives a restart.
    c.restart_broker().await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    assert_eq!(
        send_one(&conn, &topic).await.unwrap_err().response_code(),
        Some(ResponseCode::NoPermission)
    );
    let info = conn
        .call(&GetBrokerRuntimeInfoRequest {}, Bytes::new(), T)
        .await
        .unwrap();
    assert_eq!(info.header.perm & PERM_WRITE, 0);

    conn.call(&AddWritePermRequest { broker_name: name }, Bytes::new(), T)
        .await
        .unwrap();
    assert_eq!(send_one(&conn, &topic).await.unwrap(), 1);
    wait_for("the route to be writable again", T, || async {
        (route_writable(&admin, &topic).await == Some(true)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn runtime_info_reports_the_broker() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Stats", 1).await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    for _ in 0..5 {
        send_one(&conn, &topic).await.unwrap();
    }
    let info = conn
        .call(&GetBrokerRuntimeInfoRequest {}, Bytes::new(), T)
        .await
        .unwrap()
        .header;
    assert_eq!(info.broker_name.as_str(), "broker-a");
    assert_eq!(info.cluster.as_str(), "DefaultCluster");
    assert_eq!(info.addr, c.broker_addr());
    assert_eq!(info.put_total, 5);
    assert_eq!(info.topics, 1);
    assert_eq!(info.flush_mode, "sync");
    assert!(info.commit_log_max_offset > 0);
    assert!(!info.auto_create_topic);
    assert!(!info.store_poisoned);
    assert!(
        info.direct_io,
        "test stores are on a file system with O_DIRECT"
    );
    assert!((0.0..=1.0).contains(&info.disk_usage));
}

#[tokio::test]
async fn topics_are_created_on_first_send_only_when_enabled() {
    let c = TestCluster::start_with(|b| b.auto_create_topic = true).await;
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    // The broker advertises that it creates topics.
    let tbw = TopicName::new(AUTO_CREATE_TOPIC).unwrap();
    wait_for("the auto-create route", T, || async {
        admin.topic_route(&tbw).await.ok()
    })
    .await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let fresh = TopicName::new("BornOnSend").unwrap();
    assert_eq!(send_one(&conn, &fresh).await.unwrap(), 0);
    let route = wait_for("the new topic's route", T, || async {
        admin.topic_route(&fresh).await.ok()
    })
    .await;
    assert_eq!(route.queue_datas[0].write_queues, 4);
    // Sending to the marker topic itself is refused.
    assert_eq!(
        send_one(&conn, &tbw).await.unwrap_err().response_code(),
        Some(ResponseCode::TopicNotExist)
    );

    let off = TestCluster::start().await;
    let conn = Connection::connect(off.broker_addr(), T).await.unwrap();
    let err = send_one(&conn, &fresh).await.unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::TopicNotExist));
    assert!(err.to_string().contains("mqadmin updateTopic"));
}
