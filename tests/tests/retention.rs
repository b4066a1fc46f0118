//! Retention through the broker: old segments go, queue min offsets move up,
//! and a consumer behind them is moved forward, never fed garbage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use ferromq_client::{AdminClient, GroupName, Message, QueueId, QueueOffset};
use ferromq_protocol::header::{OffsetEntry, UpdateConsumerOffsetRequest};
use ferromq_remoting::Connection;
use ferromq_tests::{consume_n, consumer, producer, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_moves_lagging_consumers_forward() {
    let c = TestCluster::start_with(|b| b.store.segment_size = 64 * 1024).await;
    let topic = c.create_topic("Retained", 1).await;
    let p = producer(c.namesrv_addr());
    let n = 1_000u64;
    for i in 0..n {
        p.send(Message::new(
            topic.clone(),
            format!("{i:04}-{}", "r".repeat(300)),
        ))
        .await
        .unwrap();
    }
    // Group "lagging" commits offset 0 while everything is still there.
    let conn = Connection::connect(c.broker_addr(), Duration::from_secs(3))
        .await
        .unwrap();
    let commit = UpdateConsumerOffsetRequest {
        consumer_group: GroupName::new("lagging").unwrap(),
        offsets: vec![OffsetEntry {
            topic: topic.clone(),
            queue_id: QueueId::new(0),
            offset: QueueOffset::new(0),
        }],
    };
    conn.call(&commit, Bytes::new(), Duration::from_secs(3))
        .await
        .unwrap();
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let group = GroupName::new("lagging").unwrap();
    let progress = admin.consumer_progress(&group, Some(&topic)).await.unwrap();
    assert_eq!(progress.queues[0].consumer_offset.map(|o| o.get()), Some(0));

    let store = c.store();
    let segments_before = std::fs::read_dir(c.store_dir().join("commitlog"))
        .unwrap()
        .count();
    assert!(
        segments_before > 3,
        "expected several segments, got {segments_before}"
    );

    // Make every segment look 73 hours old, then run a retention pass.
    store.advance_retention_clock(Duration::from_secs(73 * 3600));
    let deleted = tokio::task::spawn_blocking({
        let store = store.clone();
        move || store.delete_expired_now()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(deleted > 0, "nothing was deleted");

    let status = admin.topic_status(&topic).await.unwrap();
    let q = &status[0].queues[0];
    let min = q.min_offset.get();
    assert!(min > 0, "min offset did not advance");
    assert_eq!(q.max_offset.get(), n);

    // A new group starting from the first offset begins at the new minimum,
    // and one that committed 0 (now behind the minimum) is moved forward.
    for group in ["fresh", "lagging"] {
        let cons = consumer(c.namesrv_addr(), group);
        cons.subscribe(&topic).await.unwrap();
        let got = consume_n(&cons, (n - min) as usize, Duration::from_secs(30)).await;
        assert_eq!(got.len() as u64, n - min, "group {group}");
        for (k, m) in got.iter().enumerate() {
            let off = min + k as u64;
            assert_eq!(m.queue_offset.get(), off);
            assert!(m.message.body.starts_with(format!("{off:04}-").as_bytes()));
        }
        cons.shutdown().await;
    }
}
