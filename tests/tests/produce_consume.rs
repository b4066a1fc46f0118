//! 10,000 keyed messages over 4 queues, read back exactly once, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ferromq_client::{AdminClient, GroupName, Message, SendStatus};
use ferromq_tests::{consume_n, consumer, producer, TestCluster};
use futures::StreamExt;

const N: usize = 10_000;

fn body(i: usize) -> Vec<u8> {
    format!("body-{i}-{}", "x".repeat(i % 300)).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_exactly_once_in_queue_order() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Orders", 4).await;
    let p = producer(c.namesrv_addr());

    // Send with 64 in flight so the broker's group commit is exercised.
    let results: Vec<_> = futures::stream::iter(0..N)
        .map(|i| {
            let m = Message::new(topic.clone(), body(i))
                .with_key(format!("key-{i}"))
                .with_tags("T");
            let f = p.send_async(m);
            async move { (i, f.await) }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    // (queue, offset) -> message index, from the acknowledgements.
    let mut acked = BTreeMap::new();
    for (i, r) in results {
        let r = r.unwrap_or_else(|e| panic!("send {i} failed: {e}"));
        assert_eq!(r.status, SendStatus::Ok);
        assert!(
            acked
                .insert((r.queue_id.get(), r.queue_offset.get()), i)
                .is_none(),
            "offset reused"
        );
    }
    let queues: HashSet<u32> = acked.keys().map(|(q, _)| *q).collect();
    assert_eq!(queues.len(), 4, "all four queues used");

    let cons = consumer(c.namesrv_addr(), "readers");
    cons.subscribe(&topic).await.unwrap();
    let got = consume_n(&cons, N, Duration::from_secs(60)).await;
    assert_eq!(got.len(), N, "every message read");

    let mut next_offset = BTreeMap::new();
    let mut seen = HashSet::new();
    for m in &got {
        let q = m.queue_id.get();
        let expect = next_offset.entry(q).or_insert(0u64);
        assert_eq!(m.queue_offset.get(), *expect, "queue {q} out of order");
        *expect += 1;
        let i = acked[&(q, m.queue_offset.get())];
        assert!(seen.insert(i), "message {i} read twice");
        assert_eq!(m.message.keys, vec![format!("key-{i}")]);
        assert_eq!(m.message.tags.as_deref(), Some("T"));
        assert_eq!(&m.message.body[..], &body(i)[..], "body of message {i}");
        assert_eq!(m.message.topic, topic);
    }
    assert_eq!(seen.len(), N);

    // Nothing more arrives, and after a commit the group has no lag.
    assert!(cons
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    cons.commit().await.unwrap();
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let progress = admin
        .consumer_progress(&GroupName::new("readers").unwrap(), Some(&topic))
        .await
        .unwrap();
    assert_eq!(progress.total_lag(), 0);
    cons.shutdown().await;
}
