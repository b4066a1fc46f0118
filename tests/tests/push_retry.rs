//! Retry and dead-letter: a message the listener fails comes back through
//! `%RETRY%<group>` with growing delays (a short test delay table), and one
//! that always fails ends in `%DLQ%<group>` after the configured maximum,
//! with its original topic, keys and properties.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferromq_client::protocol::header::{
    dlq_topic, retry_topic, SubscriptionGroupConfig, PROPERTY_RETRY_TOPIC,
};
use ferromq_client::{
    AdminClient, ClusterName, ConsumeFrom, ConsumeResult, GroupName, GroupTarget, Message,
    PullConsumer, PushConsumer, StoredMessage, TopicName,
};
use ferromq_tests::{consume_n, producer, wait_for, TestCluster};
use parking_lot::Mutex;
use push_common::{builder, Recorder};

/// Levels 3, 4 and 5 (the first three retries) wait 200 ms, 500 ms, 1 s.
const LEVELS: &str = "100ms 100ms 200ms 500ms 1s 2s 3s 4s";

async fn cluster() -> TestCluster {
    TestCluster::start_with(|cfg| cfg.message_delay_levels = LEVELS.to_string()).await
}

/// Waits until `c` owns its group's retry queue, so retries come back.
async fn wait_retry_queue(c: &PushConsumer) {
    let retry = retry_topic(c.group()).unwrap();
    wait_for("the retry queue", Duration::from_secs(10), || async {
        c.assigned_queues()
            .iter()
            .any(|q| q.topic == retry)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_three_times_then_succeeds_with_growing_delays() {
    let c = cluster().await;
    let topic = c.create_topic("Retry", 2).await;
    let rec = Recorder::default();
    let r = rec.clone();
    let failures = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let consumer = builder(c.namesrv_addr(), "retry-group")
        .subscribe("Retry", "*")
        .listener_concurrently(move |msgs| {
            r.record(0, msgs);
            let key = msgs[0].message.keys[0].clone();
            let mut f = failures.lock();
            let n = f.entry(key).or_default();
            if *n < 3 {
                *n += 1;
                ConsumeResult::RetryLater
            } else {
                ConsumeResult::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_retry_queue(&consumer).await;

    producer(c.namesrv_addr())
        .send(
            Message::new(topic.clone(), "try me")
                .with_key("flaky")
                .with_property("color", "blue"),
        )
        .await
        .unwrap();
    wait_for("four deliveries", Duration::from_secs(20), || async {
        (rec.len() >= 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = rec.all();
    assert_eq!(seen.len(), 4, "three failures, then success: {seen:?}");
    for (i, d) in seen.iter().enumerate() {
        let m = &d.message;
        assert_eq!(
            m.message.topic, topic,
            "delivery {i} shows the original topic"
        );
        assert_eq!(m.reconsume_times, i as u32, "delivery {i}");
        assert_eq!(m.message.keys, vec!["flaky"]);
        assert_eq!(
            m.message.properties.get("color").map(String::as_str),
            Some("blue")
        );
        assert_eq!(&m.message.body[..], b"try me");
    }
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
    eprintln!("redelivery gaps: {gaps:?}");
    for (gap, min) in gaps.iter().zip([150, 450, 900]) {
        assert!(*gap >= Duration::from_millis(min), "gaps {gaps:?}");
    }
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "growing delays: {gaps:?}"
    );
    consumer.shutdown().await;
}

/// Reads the one message of `group`'s dead-letter topic.
async fn dead_letter(namesrv: &str, group: &GroupName) -> StoredMessage {
    let dlq = dlq_topic(group).unwrap();
    let admin = AdminClient::connect(namesrv).unwrap();
    wait_for(
        "the dead-letter topic route",
        Duration::from_secs(10),
        || async { admin.topic_route(&dlq).await.ok() },
    )
    .await;
    let reader = PullConsumer::builder()
        .namesrv_addr(namesrv)
        .group("dlq-reader")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    reader.subscribe(&dlq).await.unwrap();
    let mut got = consume_n(&reader, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "one dead letter");
    reader.shutdown().await;
    got.remove(0)
}

fn check_dead_letter(m: &StoredMessage, group: &GroupName, topic: &TopicName) {
    assert_eq!(m.message.topic, dlq_topic(group).unwrap());
    assert_eq!(
        m.message
            .properties
            .get(PROPERTY_RETRY_TOPIC)
            .map(String::as_str),
        Some(topic.as_str()),
        "original topic kept"
    );
    assert_eq!(m.message.keys, vec!["doomed"]);
    assert_eq!(m.message.tags.as_deref(), Some("TagX"));
    assert_eq!(
        m.message.properties.get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(&m.message.body[..], b"never works");
}

async fn send_doomed(namesrv: &str, topic: &TopicName) {
    producer(namesrv)
        .send(
            Message::new(topic.clone(), "never works")
                .with_key("doomed")
                .with_tags("TagX")
                .with_property("color", "blue"),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_message_is_dead_lettered_after_the_max() {
    let c = cluster().await;
    let topic = c.create_topic("Doomed", 1).await;
    let group = GroupName::new("dlq-group").unwrap();
    let rec = Recorder::default();
    let r = rec.clone();
    // A panicking listener counts as "retry later".
    let consumer = builder(c.namesrv_addr(), group.as_str())
        .subscribe("Doomed", "*")
        .max_reconsume_times(Some(2))
        .listener_concurrently(move |msgs| -> ConsumeResult {
            r.record(0, msgs);
            panic!("this listener always fails");
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_retry_queue(&consumer).await;
    send_doomed(c.namesrv_addr(), &topic).await;
    let m = dead_letter(c.namesrv_addr(), &group).await;
    check_dead_letter(&m, &group, &topic);
    assert_eq!(rec.len(), 3, "the first delivery and two retries");
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_retry_limit_comes_from_update_sub_group() {
    let c = cluster().await;
    let topic = c.create_topic("DoomedToo", 1).await;
    let group = GroupName::new("dlq-admin").unwrap();
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let mut config = SubscriptionGroupConfig::new(group.clone());
    config.retry_max_times = 1;
    let target = GroupTarget::Cluster(ClusterName::new("DefaultCluster").unwrap());
    admin
        .update_subscription_group(&target, &config)
        .await
        .unwrap();

    let rec = Recorder::default();
    let r = rec.clone();
    let consumer = builder(c.namesrv_addr(), group.as_str())
        .subscribe("DoomedToo", "*")
        .listener_concurrently(move |msgs| {
            r.record(0, msgs);
            ConsumeResult::RetryLater
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_retry_queue(&consumer).await;
    send_doomed(c.namesrv_addr(), &topic).await;
    let m = dead_letter(c.namesrv_addr(), &group).await;
    check_dead_letter(&m, &group, &topic);
    assert_eq!(rec.len(), 2, "the first delivery and one retry");
    consumer.shutdown().await;
}
