//! Three push consumers in one group share eight queues: 30,000 messages
//! are each handled exactly once while nothing fails. Then one member is
//! dropped without shutdown in the middle of a second run: its queues move
//! to the others within one rebalance, and every message is handled at
//! least once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferromq_client::{ConsumeResult, MessageQueue, PushConsumer, TopicName};
use ferromq_tests::{producer, wait_for, TestCluster};
use push_common::{builder, of_topic, send_n, Recorder};

const GROUP: &str = "push-group";

fn consumer(namesrv: &str, id: usize, rec: &Recorder) -> PushConsumer {
    let rec = rec.clone();
    builder(namesrv, GROUP)
        .subscribe("Shared", "*")
        .consume_batch_size(4)
        .listener_concurrently(move |msgs| {
            rec.record(id, msgs);
            ConsumeResult::Success
        })
        .build()
        .unwrap()
}

/// Waits until the consumers own every queue of `topic` exactly once, each
/// consumer `per_member` of them. While a rebalance is under way every
/// queue can be owned once with an uneven split (a member that has not yet
/// seen a newcomer still holds its larger share), so the split is part of
/// the condition, not just asserted afterwards.
async fn wait_stable(
    consumers: &[&PushConsumer],
    topic: &TopicName,
    queues: usize,
    per_member: std::ops::RangeInclusive<usize>,
    within: Duration,
) {
    wait_for("a stable allocation", within, || async {
        let per: Vec<Vec<MessageQueue>> = consumers
            .iter()
            .map(|c| of_topic(&c.assigned_queues(), topic))
            .collect();
        let owned: Vec<&MessageQueue> = per.iter().flatten().collect();
        let unique: BTreeSet<_> = owned.iter().collect();
        let even = per.iter().all(|q| per_member.contains(&q.len()));
        (owned.len() == queues && unique.len() == queues && even).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_queues_and_take_over_a_dropped_one() {
    let c = TestCluster::start_with(|cfg| {
        cfg.client_scan_interval = Duration::from_millis(200);
    })
    .await;
    let topic = c.create_topic("Shared", 8).await;
    let ns = c.namesrv_addr();
    let rec = Recorder::default();
    let members: Vec<PushConsumer> = (0..3).map(|i| consumer(ns, i, &rec)).collect();
    for m in &members {
        m.start().await.unwrap();
    }
    let refs: Vec<&PushConsumer> = members.iter().collect();
    wait_stable(&refs, &topic, 8, 2..=3, Duration::from_secs(10)).await;
    for m in &members {
        let n = of_topic(&m.assigned_queues(), &topic).len();
        assert!((2..=3).contains(&n), "averagely: 3, 3, 2 queues; got {n}");
    }

    // Phase 1: nothing fails, so every message is handled exactly once.
    let p = producer(ns);
    const N: usize = 30_000;
    send_n(&p, &topic, "a", N).await;
    wait_for("30,000 deliveries", Duration::from_secs(60), || async {
        (rec.len() >= N).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let by_key = rec.by_key();
    assert_eq!(by_key.len(), N, "every message delivered");
    let dups: Vec<_> = by_key.iter().filter(|(_, d)| d.len() > 1).collect();
    assert!(
        dups.is_empty(),
        "{} messages delivered twice, e.g. {:?}",
        dups.len(),
        dups.first().map(|d| d.0)
    );
    // Every queue was consumed, each by exactly one member.
    let mut owner: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
    for d in rec.all() {
        owner
            .entry(d.message.queue_id.get())
            .or_default()
            .insert(d.consumer);
    }
    assert_eq!(owner.len(), 8, "all queues covered");
    assert!(
        owner.values().all(|o| o.len() == 1),
        "one member per queue: {owner:?}"
    );

    // Phase 2: drop member 2 (no shutdown) while a second run is consumed.
    let mut members = members;
    let dropped = members.pop().unwrap();
    let dropped_queues = of_topic(&dropped.assigned_queues(), &topic);
    let before = rec.len();
    const M: usize = 10_000;
    let sending = {
        let p = p.clone();
        let topic = topic.clone();
        tokio::spawn(async move { send_n(&p, &topic, "b", M).await })
    };
    wait_for(
        "the second run to be under way",
        Duration::from_secs(30),
        || async { (rec.len() >= before + M / 4).then_some(()) },
    )
    .await;
    drop(dropped);
    let t0 = std::time::Instant::now();
    let refs: Vec<&PushConsumer> = members.iter().collect();
    // One rebalance (500 ms) after the broker notices the closed
    // connections (scan every 200 ms), with slack for a loaded machine.
    wait_stable(&refs, &topic, 8, 4..=4, Duration::from_secs(5)).await;
    let took = t0.elapsed();
    for q in &dropped_queues {
        assert!(
            members.iter().any(|m| m.assigned_queues().contains(q)),
            "{q} taken over"
        );
    }
    sending.await.unwrap();
    wait_for(
        "every message of the second run",
        Duration::from_secs(60),
        || async {
            let keys = rec.keys();
            (0..M)
                .all(|i| keys.contains(&format!("b-{i}")))
                .then_some(())
        },
    )
    .await;
    eprintln!(
        "takeover after {took:?}; second run: {} deliveries for {M} messages",
        rec.len() - before
    );
    for m in &members {
        m.shutdown().await;
    }
}
