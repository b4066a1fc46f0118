//! Send-back, retry and dead-letter topics, and scheduled delivery (also
//! of producers' delayed messages, and across a broker restart).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_groups_common;

use std::time::Duration;

use broker_groups_common::*;
use ferromq_client::{AdminClient, Message};
use ferromq_protocol::header::{
    SendMsgBackRequest, SubscriptionGroupConfig, UpdateSubscriptionGroupRequest,
    PROPERTY_ORIGIN_MSG_ID, PROPERTY_RETRY_TOPIC,
};
use ferromq_protocol::record::StoredMessage;
use ferromq_protocol::GroupName;
use ferromq_tests::{producer, wait_for, TestCluster};

const WAIT: Duration = Duration::from_secs(15);

/// Level 3 (the first retry) waits 1 s, so "not before its delay" is
/// checked with a wide margin; later levels are short.
const TEST_LEVELS: &str = "100ms 200ms 1s 100ms 100ms 100ms 100ms 100ms 100ms 100ms";

fn send_back(g: &GroupName, m: &StoredMessage, delay_level: u32) -> SendMsgBackRequest {
    SendMsgBackRequest {
        group: g.clone(),
        offset: m.commit_log_offset,
        delay_level,
        max_reconsume_times: None,
    }
}

fn assert_same_user_fields(copy: &StoredMessage, original: &StoredMessage) {
    assert_eq!(copy.message.body, original.message.body);
    assert_eq!(copy.message.keys, original.message.keys);
    assert_eq!(copy.message.tags, original.message.tags);
    for (k, v) in &original.message.properties {
        assert_eq!(copy.message.properties.get(k), Some(v), "property {k}");
    }
    for internal in ["DELAY", "REAL_TOPIC", "REAL_QID"] {
        assert!(
            !copy.message.properties.contains_key(internal),
            "{internal} leaked"
        );
    }
    assert_eq!(
        copy.message.properties[PROPERTY_RETRY_TOPIC],
        original.message.topic.as_str()
    );
    assert_eq!(
        copy.message.properties[PROPERTY_ORIGIN_MSG_ID],
        original.msg_id().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_come_back_after_their_delay_then_go_to_the_dlq() {
    let c = TestCluster::start_with(|cfg| cfg.message_delay_levels = TEST_LEVELS.into()).await;
    let t = c.create_topic("RetryTopic", 1).await;
    let g = group("retrying");
    let retry = topic("%RETRY%retrying");
    let dlq = topic("%DLQ%retrying");
    let conn = connect(c.broker_addr()).await;
    let mut settings = SubscriptionGroupConfig::new(g.clone());
    settings.retry_max_times = 2;
    ok(&conn, &UpdateSubscriptionGroupRequest { config: settings }).await;

    producer(c.namesrv_addr())
        .send(
            Message::new(t.clone(), "pay order 1")
                .with_tags("TagA")
                .with_key("order-1")
                .with_property("color", "red"),
        )
        .await
        .unwrap();
    let original = read_one(&conn, &t, 0, 0).await;
    assert_eq!(original.reconsume_times, 0);

    // First failure: level 3 (1 s).
    let sent_back_at = now_ms();
    ok(&conn, &send_back(&g, &original, 0)).await;
    assert_eq!(
        max_offset(&conn, &retry, 0).await,
        0,
        "retry visible before its delay"
    );
    wait_for("the first retry", WAIT, || async {
        (max_offset(&conn, &retry, 0).await == 1).then_some(())
    })
    .await;
    let first = read_one(&conn, &retry, 0, 0).await;
    assert_eq!(first.message.topic, retry);
    assert_eq!(first.reconsume_times, 1);
    assert!(
        first.store_timestamp >= sent_back_at + 1000,
        "delivered {} ms after the send-back",
        first.store_timestamp - sent_back_at
    );
    assert_same_user_fields(&first, &original);
    assert_eq!(first.unique_id(), original.unique_id());

    // The retry topic is routed like any topic.
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    wait_for("the retry topic route", WAIT, || async {
        admin.topic_route(&retry).await.ok()
    })
    .await;

    // Second failure, of the copy: level 4 (100 ms).
    ok(&conn, &send_back(&g, &first, 0)).await;
    wait_for("the second retry", WAIT, || async {
        (max_offset(&conn, &retry, 0).await == 2).then_some(())
    })
    .await;
    let second = read_one(&conn, &retry, 0, 1).await;
    assert_eq!(second.reconsume_times, 2);
    assert_same_user_fields(&second, &original);

    // Third failure: past retry_max_times = 2, parked in the DLQ at once.
    ok(&conn, &send_back(&g, &second, 0)).await;
    assert_eq!(max_offset(&conn, &dlq, 0).await, 1);
    let dead = read_one(&conn, &dlq, 0, 0).await;
    assert_eq!(dead.message.topic, dlq);
    assert_eq!(dead.reconsume_times, 3);
    assert_same_user_fields(&dead, &original);
    assert_eq!(max_offset(&conn, &retry, 0).await, 2, "no third retry");

    // An explicit max overrides the group's; an unknown offset is refused.
    let mut req = send_back(&g, &original, 1);
    req.max_reconsume_times = Some(0);
    ok(&conn, &req).await;
    assert_eq!(max_offset(&conn, &dlq, 0).await, 2);
    let mut bad = send_back(&g, &original, 0);
    bad.offset = ferromq_protocol::CommitLogOffset::new(original.commit_log_offset.get() + 1);
    let err = conn.call(&bad, bytes::Bytes::new(), RPC).await.unwrap_err();
    assert!(err.to_string().contains("no message"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_message_with_a_delay_level_arrives_after_it() {
    let c = TestCluster::start_with(|cfg| cfg.message_delay_levels = TEST_LEVELS.into()).await;
    let t = c.create_topic("DelayTopic", 1).await;
    let conn = connect(c.broker_addr()).await;
    let p = producer(c.namesrv_addr());
    let sent_at = now_ms();
    let r = p
        .send(
            Message::new(t.clone(), "later")
                .with_tags("TagD")
                .with_key("delayed-1")
                .with_property("DELAY", "3")
                .with_property("app", "x"),
        )
        .await
        .unwrap();
    assert_eq!(
        max_offset(&conn, &t, 0).await,
        0,
        "delayed message visible at once"
    );
    wait_for("the delayed message", WAIT, || async {
        (max_offset(&conn, &t, 0).await == 1).then_some(())
    })
    .await;
    let m = read_one(&conn, &t, 0, 0).await;
    assert_eq!(&m.message.body[..], b"later");
    assert_eq!(m.message.tags.as_deref(), Some("TagD"));
    assert_eq!(m.message.keys, vec!["delayed-1"]);
    assert_eq!(m.message.properties["app"], "x");
    assert_eq!(m.unique_id(), Some(r.unique_id.as_str()));
    assert!(!m.message.properties.contains_key("DELAY"));
    assert!(!m.message.properties.contains_key("REAL_TOPIC"));
    assert_eq!(m.reconsume_times, 0);
    assert!(m.store_timestamp >= sent_at + 1000);

    // Level 0 means "not delayed".
    p.send(Message::new(t.clone(), "now").with_property("DELAY", "0"))
        .await
        .unwrap();
    assert_eq!(max_offset(&conn, &t, 0).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_messages_survive_a_restart_and_are_delivered_once() {
    let mut c = TestCluster::start_with(|cfg| {
        cfg.message_delay_levels = "100ms 200ms 3s 100ms".into();
    })
    .await;
    let t = c.create_topic("RestartRetry", 1).await;
    let g = group("restarting");
    let retry = topic("%RETRY%restarting");
    producer(c.namesrv_addr())
        .send(Message::new(t.clone(), "survivor").with_key("s-1"))
        .await
        .unwrap();
    let conn = connect(c.broker_addr()).await;
    let original = read_one(&conn, &t, 0, 0).await;
    ok(&conn, &send_back(&g, &original, 0)).await;
    drop(conn);

    // Restart well before the 3 s delay is up.
    c.restart_broker().await;
    let conn = connect(c.broker_addr()).await;
    assert_eq!(
        max_offset(&conn, &retry, 0).await,
        0,
        "delivered before its delay"
    );
    wait_for("the retry after the restart", WAIT, || async {
        (max_offset(&conn, &retry, 0).await == 1).then_some(())
    })
    .await;
    let copy = read_one(&conn, &retry, 0, 0).await;
    assert_eq!(copy.reconsume_times, 1);
    assert_same_user_fields(&copy, &original);

    // Delivery progress was saved at shutdown: after another restart only
    // the new send-back (level 1) arrives, the first is not delivered again.
    drop(conn);
    c.restart_broker().await;
    let conn = connect(c.broker_addr()).await;
    ok(&conn, &send_back(&g, &original, 1)).await;
    wait_for("the second retry", WAIT, || async {
        (max_offset(&conn, &retry, 0).await >= 2).then_some(())
    })
    .await;
    let second = read_one(&conn, &retry, 0, 1).await;
    assert_eq!(second.reconsume_times, 1);
    assert_eq!(max_offset(&conn, &retry, 0).await, 2);
    let offsets = std::fs::read_to_string(c.store_dir().join("config/delayOffsets.json")).unwrap();
    assert!(offsets.contains("\"3\": 1"), "{offsets}");
}
