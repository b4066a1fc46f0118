//! Topics created on first send: a standalone broker creates them (4
//! queues, registered at once); with `--auto-create-topic false` a send to
//! an unknown topic fails with the "create it with mqadmin updateTopic"
//! error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ferromq_client::{ClientError, Message, TopicName};
use ferromq_tests::multi::mqadmin;
use ferromq_tests::{consume_n, consumer, producer, wait_for, BrokerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_broker_creates_topics_on_first_send() {
    let dir = tempfile::tempdir().unwrap();
    let b = BrokerProcess::started(dir.path(), &[]).await;
    let ns = b.namesrv_addr().to_string();
    let topic = TopicName::new("CreatedOnSend").unwrap();
    let p = producer(&ns);
    let mut queues = std::collections::BTreeSet::new();
    for i in 0..20 {
        let r = p
            .send(Message::new(topic.clone(), format!("m{i}")))
            .await
            .unwrap();
        assert_eq!(&*r.broker_addr, b.broker_addr());
        queues.insert(r.queue_id.get());
    }
    assert!(queues.iter().all(|q| *q < 4), "{queues:?}");

    wait_for(
        "the topic in topicList",
        Duration::from_secs(10),
        || async {
            let run = mqadmin(&ns, &["topicList"]).await;
            run.stdout
                .lines()
                .any(|l| l == "CreatedOnSend")
                .then_some(())
        },
    )
    .await;
    let run = mqadmin(&ns, &["topicRoute", "-t", "CreatedOnSend"]).await;
    assert!(run.ok, "{run:?}");
    let route: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let qd = &route["queue_datas"][0];
    assert_eq!(
        (qd["read_queues"].as_u64(), qd["write_queues"].as_u64()),
        (Some(4), Some(4)),
        "{route}"
    );

    let c = consumer(&ns, "readers");
    c.subscribe(&topic).await.unwrap();
    assert_eq!(consume_n(&c, 20, Duration::from_secs(10)).await.len(), 20);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_create_an_unknown_topic_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let b = BrokerProcess::started(dir.path(), &["--auto-create-topic", "false"]).await;
    let ns = b.namesrv_addr().to_string();
    let e = producer(&ns)
        .send(Message::new(TopicName::new("Unknown").unwrap(), "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::NoRoute(t) if t == "Unknown"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "no route for topic Unknown — create it with mqadmin updateTopic"
    );

    let run = mqadmin(&ns, &["sendMessage", "-t", "Unknown", "-p", "x"]).await;
    assert!(!run.ok);
    assert!(
        run.stderr.contains("create it with mqadmin updateTopic"),
        "{run:?}"
    );
    let run = mqadmin(&ns, &["topicList"]).await;
    assert!(!run.stdout.contains("Unknown"), "{run:?}");
}
