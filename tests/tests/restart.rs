//! A clean stop and a restart on the same store keep every message and every
//! committed consumer offset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ferromq_client::Message;
use ferromq_tests::{consume_n, consumer, producer, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_offsets_survive_a_restart() {
    // Small segments so the data spans several files.
    let mut c = TestCluster::start_with(|b| b.store.segment_size = 256 * 1024).await;
    let topic = c.create_topic("Durable", 2).await;
    let p = producer(c.namesrv_addr());
    let n = 2_000;
    for i in 0..n {
        p.send(Message::new(topic.clone(), format!("msg-{i}")).with_key(format!("k{i}")))
            .await
            .unwrap();
    }
    // Group "half" reads 1,000 and commits.
    let half = consumer(c.namesrv_addr(), "half");
    half.subscribe(&topic).await.unwrap();
    let mut first = Vec::new();
    while first.len() < n / 2 {
        let got = half.poll(Duration::from_secs(5)).await.unwrap();
        assert!(!got.is_empty(), "consumer stalled");
        first.extend(got);
    }
    half.commit().await.unwrap();
    half.shutdown().await;
    drop(p);

    c.restart_broker().await;

    // Every message is still there, content intact.
    let all = consumer(c.namesrv_addr(), "everything");
    all.subscribe(&topic).await.unwrap();
    let got = consume_n(&all, n, Duration::from_secs(60)).await;
    assert_eq!(got.len(), n);
    let mut bodies: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8(m.message.body.to_vec()).unwrap())
        .collect();
    bodies.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("msg-{i}")).collect();
    want.sort();
    assert_eq!(bodies, want);
    all.shutdown().await;

    // The group resumes exactly after what it committed: the rest, no repeats.
    let resumed = consumer(c.namesrv_addr(), "half");
    resumed.subscribe(&topic).await.unwrap();
    let rest = consume_n(&resumed, n - first.len(), Duration::from_secs(60)).await;
    assert_eq!(rest.len() + first.len(), n);
    let mut ids: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .map(|m| String::from_utf8(m.message.body.to_vec()).unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        n,
        "the resumed group re-read or skipped messages"
    );
    assert!(resumed
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    resumed.shutdown().await;

    // And new sends continue the queue offsets.
    let p = producer(c.namesrv_addr());
    let r = p.send(Message::new(topic.clone(), "after")).await.unwrap();
    let before = got.iter().filter(|m| m.queue_id == r.queue_id).count() as u64;
    assert_eq!(
        r.queue_offset.get(),
        before,
        "queue offsets must continue after a restart"
    );
}
