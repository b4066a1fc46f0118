use std::collections::HashMap;
use std::time::Duration;

use super::{msg, poll_n, producer, topic};
use crate::mock::MockCluster;
use crate::{ClientError, ConsumeFrom, PullConsumer};

fn consumer(c: &MockCluster, group: &str, from: ConsumeFrom) -> PullConsumer {
    PullConsumer::builder()
        .client(c.client())
        .group(group)
        .consume_from(from)
        .long_poll_hold(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn bodies(msgs: &[crate::StoredMessage]) -> Vec<String> {
    let mut v: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8_lossy(&m.message.body).into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn reads_every_queue_in_order_and_commits() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 3);
    let p = producer(&c);
    for i in 0..30 {
        p.send(msg("T", format!("m{i:02}"))).await.unwrap();
    }
    let cons = consumer(&c, "g1", ConsumeFrom::FirstOffset);
    cons.subscribe(&topic("T")).await.unwrap();
    let got = poll_n(&cons, 30, Duration::from_secs(5)).await;
    assert_eq!(bodies(&got).len(), 30);
    let mut last: HashMap<(String, u32), u64> = HashMap::new();
    for m in &got {
        let key = (m.store_host.to_string(), m.queue_id.get());
        if let Some(prev) = last.insert(key, m.queue_offset.get()) {
            assert_eq!(m.queue_offset.get(), prev + 1, "queue order");
        }
    }
    cons.commit().await.unwrap();
    for b in &c.brokers {
        for q in 0..3 {
            assert_eq!(
                b.committed("g1", "T", q),
                Some(b.max_offset(&topic("T"), q))
            );
        }
    }
    cons.shutdown().await;
    assert!(matches!(
        cons.poll(Duration::from_millis(10)).await,
        Err(ClientError::Shutdown)
    ));
}

#[tokio::test]
async fn last_offset_skips_history_and_long_poll_delivers_promptly() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    for i in 0..4 {
        p.send(msg("T", format!("old{i}"))).await.unwrap();
    }
    let cons = consumer(&c, "g2", ConsumeFrom::LastOffset);
    cons.subscribe(&topic("T")).await.unwrap();
    assert!(cons
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    let p2 = p.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        p2.send(msg("T", "new")).await.unwrap();
    });
    let started = tokio::time::Instant::now();
    let got = cons.poll(Duration::from_secs(3)).await.unwrap();
    assert_eq!(bodies(&got), ["new"]);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "held pull woke up"
    );
}

#[tokio::test]
async fn a_new_consumer_resumes_after_the_commit() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = producer(&c);
    for i in 0..10 {
        p.send(msg("T", format!("m{i}"))).await.unwrap();
    }
    let first = consumer(&c, "g3", ConsumeFrom::FirstOffset);
    first.subscribe(&topic("T")).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        let left = 4 - got.len();
        got.extend(
            first
                .poll_records(Duration::from_millis(200), left)
                .await
                .unwrap(),
        );
    }
    first.commit().await.unwrap();
    first.shutdown().await;
    assert_eq!(c.brokers[0].committed("g3", "T", 0), Some(4));

    let second = consumer(&c, "g3", ConsumeFrom::FirstOffset);
    second.subscribe(&topic("T")).await.unwrap();
    let rest = poll_n(&second, 6, Duration::from_secs(3)).await;
    assert_eq!(bodies(&rest), ["m4", "m5", "m6", "m7", "m8", "m9"]);
}

#[tokio::test]
async fn commit_without_messages_pins_the_start_for_the_next_run() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = producer(&c);
    p.send(msg("T", "before")).await.unwrap();
    let first = consumer(&c, "g4", ConsumeFrom::LastOffset);
    first.subscribe(&topic("T")).await.unwrap();
    assert!(first
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    first.commit().await.unwrap();
    first.shutdown().await;
    p.send(msg("T", "between")).await.unwrap();
    let second = consumer(&c, "g4", ConsumeFrom::LastOffset);
    second.subscribe(&topic("T")).await.unwrap();
    assert_eq!(
        bodies(&poll_n(&second, 1, Duration::from_secs(3)).await),
        ["between"]
    );
}

#[tokio::test]
async fn full_buffer_pauses_pulls_without_losing_anything() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    for i in 0..60 {
        p.send(msg("T", format!("m{i:02}"))).await.unwrap();
    }
    let cons = PullConsumer::builder()
        .client(c.client())
        .group("g5")
        .consume_from(ConsumeFrom::FirstOffset)
        .pull_batch_size(2)
        .buffer_capacity(4)
        .max_poll_records(3)
        .build()
        .unwrap();
    cons.subscribe(&topic("T")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pulls_while_full = c.brokers[0].pulls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(pulls_while_full <= 6, "pulls paused: {pulls_while_full}");
    let got = poll_n(&cons, 60, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 60);
    assert_eq!(
        bodies(&got),
        (0..60).map(|i| format!("m{i:02}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn offset_moved_jumps_forward() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = producer(&c);
    for i in 0..10 {
        p.send(msg("T", format!("m{i}"))).await.unwrap();
    }
    let first = consumer(&c, "g6", ConsumeFrom::FirstOffset);
    first.subscribe(&topic("T")).await.unwrap();
    assert_eq!(
        first
            .poll_records(Duration::from_secs(2), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    first.commit().await.unwrap();
    first.shutdown().await;
    c.brokers[0].expire("T", 0, 5);
    let second = consumer(&c, "g6", ConsumeFrom::FirstOffset);
    second.subscribe(&topic("T")).await.unwrap();
    let got = poll_n(&second, 5, Duration::from_secs(3)).await;
    assert_eq!(bodies(&got), ["m5", "m6", "m7", "m8", "m9"]);
}

#[tokio::test]
async fn a_dead_broker_does_not_stop_the_others() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 1);
    let cons = consumer(&c, "g7", ConsumeFrom::FirstOffset);
    cons.subscribe(&topic("T")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.kill(0);
    let p = producer(&c);
    for i in 0..3 {
        p.send(msg("T", format!("m{i}"))).await.unwrap();
    }
    assert_eq!(
        bodies(&poll_n(&cons, 3, Duration::from_secs(3)).await),
        ["m0", "m1", "m2"]
    );
}

#[tokio::test]
async fn unknown_topic_cannot_be_subscribed() {
    let c = MockCluster::start(&["broker-a"]).await;
    let cons = consumer(&c, "g8", ConsumeFrom::FirstOffset);
    assert!(matches!(
        cons.subscribe(&topic("Nope")).await,
        Err(ClientError::NoRoute(_))
    ));
}

#[tokio::test]
async fn polls_smaller_than_a_pull_take_a_batch_in_parts_in_order() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = producer(&c);
    for i in 0..25 {
        p.send(msg("T", format!("m{i:02}"))).await.unwrap();
    }
    let cons = PullConsumer::builder()
        .client(c.client())
        .group("g7")
        .consume_from(ConsumeFrom::FirstOffset)
        .pull_batch_size(8)
        .buffer_capacity(8)
        .build()
        .unwrap();
    cons.subscribe(&topic("T")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < 11 && tokio::time::Instant::now() < deadline {
        let polled = cons
            .poll_records(Duration::from_millis(200), 3.min(11 - got.len()))
            .await
            .unwrap();
        assert!(
            polled.len() <= 3,
            "{} messages for a poll of 3",
            polled.len()
        );
        got.extend(polled);
    }
    // A batch of 8 taken 3 at a time: what is committed is exactly what
    // was returned, not the rest of the batch.
    cons.commit().await.unwrap();
    assert_eq!(c.brokers[0].committed("g7", "T", 0), Some(11));
    while got.len() < 25 && tokio::time::Instant::now() < deadline {
        got.extend(
            cons.poll_records(Duration::from_millis(200), 3)
                .await
                .unwrap(),
        );
    }
    let order: Vec<String> = got
        .iter()
        .map(|p| String::from_utf8_lossy(&p.message.message.body).into_owned())
        .collect();
    assert_eq!(
        order,
        (0..25).map(|i| format!("m{i:02}")).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|p| p.queue.queue_id.get() == 0));
    cons.commit().await.unwrap();
    assert_eq!(c.brokers[0].committed("g7", "T", 0), Some(25));
    cons.shutdown().await;
}
