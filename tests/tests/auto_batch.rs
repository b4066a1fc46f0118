//! The producer's automatic batching: concurrent single sends through one
//! producer share requests, yet each message gets its own correct result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use ferromq_client::{ClientError, Message, Producer, SendResult, SendStatus, TopicName};
use ferromq_tests::{consume_n, consumer, TestCluster};

const TASKS: usize = 100;
const PER_TASK: usize = 30;

fn producer(c: &TestCluster, auto_batch: bool) -> Producer {
    Producer::builder()
        .namesrv_addr(c.namesrv_addr())
        .group("auto-batch")
        .auto_batch(auto_batch)
        .build()
        .unwrap()
}

fn body(task: usize, seq: usize) -> String {
    format!(
        "task-{task}-seq-{seq}-{}",
        "p".repeat((task * 7 + seq) % 200)
    )
}

/// `TASKS` tasks each sending `PER_TASK` messages one after another, all
/// at once through `p`; the results by (task, seq).
async fn send_concurrently(p: &Producer, topic: &TopicName) -> HashMap<(usize, usize), SendResult> {
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (p, topic) = (p.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for seq in 0..PER_TASK {
                let m = Message::new(topic.clone(), body(task, seq)).with_key(format!("k{task}"));
                let r = p
                    .send(m)
                    .await
                    .unwrap_or_else(|e| panic!("send {task}/{seq}: {e}"));
                out.push(((task, seq), r));
            }
            out
        }));
    }
    let mut all = HashMap::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// A cluster with `topic` (2 queues), the results of
/// [`send_concurrently`] through a producer with automatic batching on or
/// off, and how many appends the store made for them.
async fn run(
    topic: &str,
    auto_batch: bool,
) -> (
    TestCluster,
    TopicName,
    HashMap<(usize, usize), SendResult>,
    u64,
) {
    let c = TestCluster::start().await;
    let topic = c.create_topic(topic, 2).await;
    let p = producer(&c, auto_batch);
    let before = c.store().stats();
    let results = send_concurrently(&p, &topic).await;
    let after = c.store().stats();
    assert_eq!(results.len(), TASKS * PER_TASK);
    assert_eq!(after.messages - before.messages, (TASKS * PER_TASK) as u64);
    (c, topic, results, after.appends - before.appends)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_requests_and_keep_their_own_results() {
    let (c, topic, results, appends) = run("AutoBatch", true).await;
    let n = TASKS * PER_TASK;
    assert!(
        appends < n as u64 / 2,
        "{appends} appends for {n} messages: concurrent sends were not batched"
    );

    // Every message has a place of its own, and the ids are its own.
    let mut at = BTreeMap::new();
    let mut ids = HashSet::new();
    for (key, r) in &results {
        assert_eq!(r.status, SendStatus::Ok);
        assert!(at
            .insert((r.queue_id.get(), r.queue_offset.get()), *key)
            .is_none());
        assert!(ids.insert(r.msg_id.to_string()), "offset msg id reused");
    }

    // Reading the queues finds each message exactly where its result says,
    // with the unique id its result names.
    let cons = consumer(c.namesrv_addr(), "auto-batch-readers");
    cons.subscribe(&topic).await.unwrap();
    let got = consume_n(&cons, n, Duration::from_secs(60)).await;
    assert_eq!(got.len(), n);
    for m in &got {
        let key = at[&(m.queue_id.get(), m.queue_offset.get())];
        let r = &results[&key];
        assert_eq!(&m.message.body[..], body(key.0, key.1).as_bytes());
        assert_eq!(m.unique_id(), Some(r.unique_id.as_str()));
        assert_eq!(m.msg_id(), r.msg_id);
    }

    // One task's sends were sequential: within a queue its messages keep
    // their order.
    for task in 0..TASKS {
        let mut last: HashMap<u32, (u64, usize)> = HashMap::new();
        for seq in 0..PER_TASK {
            let r = &results[&(task, seq)];
            if let Some((off, s)) = last.get(&r.queue_id.get()) {
                assert!(*off < r.queue_offset.get(), "task {task}: {s} after {seq}");
            }
            last.insert(r.queue_id.get(), (r.queue_offset.get(), seq));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_every_send_is_a_request_of_its_own() {
    let (_c, _topic, _results, appends) = run("NoAutoBatch", false).await;
    assert_eq!(appends, (TASKS * PER_TASK) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_go_alone_among_batched_sends() {
    // The broker refuses delayed messages inside a batch; merging one into
    // a batch would fail every message of it.
    let c = TestCluster::start().await;
    let topic = c.create_topic("AutoBatchDelay", 1).await;
    let p = producer(&c, true);
    let before = c.store().stats();
    let sends: Vec<_> = (0..200)
        .map(|i| {
            let mut m = Message::new(topic.clone(), format!("m{i}"));
            if i % 10 == 0 {
                m = m.with_property("DELAY", "1");
            }
            p.send_async(m)
        })
        .collect();
    for (i, s) in sends.into_iter().enumerate() {
        let r = s.await.unwrap_or_else(|e| panic!("send {i}: {e}"));
        assert_eq!(r.status, SendStatus::Ok);
    }
    let after = c.store().stats();
    assert_eq!(after.messages - before.messages, 200);
    assert!(
        after.appends - before.appends < 200,
        "the plain sends were batched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_fails_every_message_in_it() {
    let c = TestCluster::start().await;
    // No such topic, and the test broker does not create topics: every
    // send fails with NoRoute, the waiting ones included.
    let topic = TopicName::new("NoSuchTopic").unwrap();
    let p = producer(&c, true);
    let sends: Vec<_> = (0..100)
        .map(|i| p.send_async(Message::new(topic.clone(), format!("m{i}"))))
        .collect();
    for (i, s) in sends.into_iter().enumerate() {
        match s.await {
            Err(ClientError::NoRoute(t)) => assert_eq!(t, "NoSuchTopic"),
            other => panic!("send {i}: expected NoRoute, got {other:?}"),
        }
    }
}
