//! Tag filtering in pulls: only matching tags come back, and runs of
//! non-matching messages never stall the consumer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_groups_common;

use std::time::{Duration, Instant};

use broker_groups_common::*;
use ferromq_client::Message;
use ferromq_protocol::record;
use ferromq_protocol::{ResponseCode, TopicName};
use ferromq_tests::{producer, TestCluster};

async fn send_tagged(p: &ferromq_client::Producer, t: &TopicName, tag: Option<&str>, n: usize) {
    let mut left = n;
    while left > 0 {
        let batch = left.min(500);
        let msgs = (0..batch)
            .map(|i| {
                let m = Message::new(t.clone(), format!("{}-{i}", tag.unwrap_or("none")));
                match tag {
                    Some(tag) => m.with_tags(tag),
                    None => m,
                }
            })
            .collect();
        p.send_batch(msgs).await.unwrap();
        left -= batch;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_matching_tags_and_no_stall_on_long_runs() {
    let c = TestCluster::start().await;
    let t = c.create_topic("FilterTopic", 1).await;
    let g = group("filtering");
    let p = producer(c.namesrv_addr());
    send_tagged(&p, &t, Some("TagA"), 5).await;
    // Longer than one pull scans, so the consumer must be told to go on.
    send_tagged(&p, &t, Some("TagB"), 10_000).await;
    send_tagged(&p, &t, Some("TagA"), 3).await;
    send_tagged(&p, &t, Some("TagC"), 2).await;
    send_tagged(&p, &t, None, 4).await;
    send_tagged(&p, &t, Some("TagB"), 50).await;
    let mut total = 5 + 10_000 + 3 + 2 + 4 + 50;

    let conn = connect(c.broker_addr()).await;
    let mut offset = 0;
    let mut got = Vec::new();
    let mut retry_immediately = 0;
    let mut pulls = 0;
    loop {
        pulls += 1;
        assert!(pulls < 100, "the consumer is stalling");
        let asked = Instant::now();
        let r = pull(
            &conn,
            &g,
            &t,
            0,
            offset,
            Some("TagA || TagC"),
            Duration::from_secs(10),
        )
        .await;
        match r.code {
            ResponseCode::Success => {
                for m in record::decode_all(&r.body).unwrap() {
                    got.push(m.message.tags.clone().unwrap());
                }
            }
            ResponseCode::PullRetryImmediately => {
                retry_immediately += 1;
                assert!(
                    asked.elapsed() < Duration::from_secs(5),
                    "an all-filtered pull was held"
                );
            }
            ResponseCode::PullNotFound => break,
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            r.header.next_offset.get() > offset,
            "offset did not advance: {:?}",
            r.code
        );
        offset = r.header.next_offset.get();
        if offset == total {
            break;
        }
    }
    assert_eq!(offset, total);
    let want: Vec<&str> = ["TagA"; 8].into_iter().chain(["TagC"; 2]).collect();
    assert_eq!(got, want);
    // The 10,000 TagB between them are skipped by tag hash in a handful of
    // pulls (each scans up to 8,192 entries), not one pull per message.
    assert!(
        pulls <= 4,
        "{pulls} pulls ({retry_immediately} PullRetryImmediately)"
    );

    // Only non-matching messages up to the end of the queue: answered at
    // once, not held, with the offset moved past them.
    send_tagged(&p, &t, Some("TagB"), 50).await;
    let asked = Instant::now();
    let r = pull(
        &conn,
        &g,
        &t,
        0,
        total,
        Some("TagC"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(r.code, ResponseCode::PullRetryImmediately);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "an all-filtered pull was held"
    );
    total += 50;
    assert_eq!(r.header.next_offset.get(), total);

    // At the end, a pull is held as usual and woken by a matching message.
    let held = {
        let conn = conn.clone();
        let (g, t) = (g.clone(), t.clone());
        tokio::spawn(async move {
            pull(
                &conn,
                &g,
                &t,
                0,
                total,
                Some("TagC"),
                Duration::from_secs(20),
            )
            .await
        })
    };
    send_tagged(&p, &t, Some("TagC"), 1).await;
    let r = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.code, ResponseCode::Success);
    assert_eq!(record::decode_all(&r.body).unwrap().len(), 1);

    // Without an expression (or with "*") everything comes back.
    for expr in [None, Some("*")] {
        let r = pull(&conn, &g, &t, 0, 0, expr, Duration::ZERO).await;
        assert_eq!(record::decode_all(&r.body).unwrap().len(), 32);
    }
}
