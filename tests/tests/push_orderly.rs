//! Orderly consumption: messages sent with a key-hash queue selector
//! arrive in send order per key, also while a second member joins and the
//! queues move between members (queue locks on the broker hand each queue
//! over only after its last message was finished and committed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::collections::BTreeMap;
use std::time::Duration;

use ferromq_client::{
    BrokerName, Message, MessageQueue, OrderlyResult, PushConsumer, QueueId, TopicName,
};
use ferromq_tests::{producer, wait_for, TestCluster};
use push_common::{builder, of_topic, Recorder};

const QUEUES: u32 = 4;
const KEYS: usize = 16;
const PER_KEY: usize = 150;

fn member(namesrv: &str, id: usize, rec: &Recorder) -> PushConsumer {
    let rec = rec.clone();
    builder(namesrv, "orderly")
        .subscribe("Ordered", "*")
        .listener_orderly(move |msgs| {
            rec.record(id, msgs);
            // Slow enough that a backlog builds up and queues move while
            // messages are waiting.
            std::thread::sleep(Duration::from_micros(300));
            OrderlyResult::Success
        })
        .build()
        .unwrap()
}

fn key_queue(key: &str, topic: &TopicName, broker: &BrokerName) -> MessageQueue {
    let h = key
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    MessageQueue::new(topic.clone(), broker.clone(), QueueId::new(h % QUEUES))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order_holds_while_a_member_joins() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Ordered", QUEUES).await;
    let ns = c.namesrv_addr();
    let p = producer(ns);
    let route = p.client().topic_route(&topic).await.unwrap();
    let broker = route.write_queues()[0].broker_name.clone();

    let rec = Recorder::default();
    let first = member(ns, 0, &rec);
    first.start().await.unwrap();
    wait_for(
        "the first member to own every queue",
        Duration::from_secs(10),
        || async {
            (of_topic(&first.assigned_queues(), &topic).len() == QUEUES as usize).then_some(())
        },
    )
    .await;

    // One sender per key, each sending its messages one after another.
    let senders: Vec<_> = (0..KEYS)
        .map(|k| {
            let (p, topic, broker) = (p.clone(), topic.clone(), broker.clone());
            tokio::spawn(async move {
                let key = format!("key-{k}");
                let q = key_queue(&key, &topic, &broker);
                for seq in 0..PER_KEY {
                    let m = Message::new(topic.clone(), seq.to_string()).with_key(key.clone());
                    p.send_to_queue(m, &q).await.unwrap();
                }
            })
        })
        .collect();

    wait_for("consumption under way", Duration::from_secs(30), || async {
        (rec.len() >= KEYS * PER_KEY / 4).then_some(())
    })
    .await;
    let second = member(ns, 1, &rec);
    second.start().await.unwrap();
    wait_for(
        "the queues to be shared",
        Duration::from_secs(10),
        || async {
            let (a, b) = (
                of_topic(&first.assigned_queues(), &topic).len(),
                of_topic(&second.assigned_queues(), &topic).len(),
            );
            (a == 2 && b == 2).then_some(())
        },
    )
    .await;
    for s in senders {
        s.await.unwrap();
    }
    wait_for("every message", Duration::from_secs(60), || async {
        (rec.len() >= KEYS * PER_KEY).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut by_member = [0usize; 2];
    for d in rec.all() {
        let seq: usize = String::from_utf8_lossy(&d.message.message.body)
            .parse()
            .unwrap();
        per_key
            .entry(d.message.message.keys[0].clone())
            .or_default()
            .push(seq);
        by_member[d.consumer] += 1;
    }
    assert_eq!(per_key.len(), KEYS);
    for (key, seqs) in &per_key {
        let expect: Vec<usize> = (0..PER_KEY).collect();
        assert_eq!(seqs, &expect, "{key} out of order or duplicated");
    }
    eprintln!("deliveries per member: {by_member:?}");
    assert!(by_member[1] > 0, "the second member consumed after joining");
    first.shutdown().await;
    second.shutdown().await;
}

/// An orderly listener that suspends a message holds its queue: the
/// message is offered again after the suspend time, nothing behind it
/// overtakes it, and after the max reconsume times it goes to the
/// dead-letter topic and the queue moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_message_holds_its_queue_then_is_dead_lettered() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Suspend", 1).await;
    let ns = c.namesrv_addr();
    let rec = Recorder::default();
    let r = rec.clone();
    let consumer = builder(ns, "suspender")
        .subscribe("Suspend", "*")
        .max_reconsume_times(Some(2))
        .suspend_time(Duration::from_millis(100))
        .listener_orderly(move |msgs| {
            r.record(0, msgs);
            if msgs[0].message.keys[0] == "bad" {
                OrderlyResult::SuspendCurrentQueueAMoment
            } else {
                OrderlyResult::Success
            }
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("the queue", Duration::from_secs(10), || async {
        (!of_topic(&consumer.assigned_queues(), &topic).is_empty()).then_some(())
    })
    .await;
    let p = producer(ns);
    for key in ["good-0", "bad", "good-1", "good-2"] {
        p.send(Message::new(topic.clone(), key).with_key(key))
            .await
            .unwrap();
    }
    wait_for(
        "the messages after the bad one",
        Duration::from_secs(20),
        || async { (rec.len() >= 6).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen: Vec<(String, u32)> = rec
        .all()
        .iter()
        .map(|d| (d.message.message.keys[0].clone(), d.message.reconsume_times))
        .collect();
    let want: Vec<(String, u32)> = [
        ("good-0", 0),
        ("bad", 0),
        ("bad", 1),
        ("bad", 2),
        ("good-1", 0),
        ("good-2", 0),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), *n))
    .collect();
    assert_eq!(seen, want);
    let dlq = ferromq_client::protocol::header::dlq_topic(consumer.group()).unwrap();
    let admin = ferromq_client::AdminClient::connect(ns).unwrap();
    let route = wait_for("the dead-letter topic", Duration::from_secs(10), || async {
        admin.topic_route(&dlq).await.ok()
    })
    .await;
    let broker = route.queue_datas[0].broker_name.clone();
    let m = admin
        .query_by_offset(
            &broker,
            &dlq,
            QueueId::new(0),
            ferromq_client::QueueOffset::new(0),
        )
        .await
        .unwrap()
        .expect("the bad message in the dead-letter topic");
    assert_eq!(m.message.keys, vec!["bad"]);
    consumer.shutdown().await;
}
