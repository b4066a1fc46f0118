//! Failover with real processes: two NameServers and two brokers. A broker
//! killed with SIGKILL while a producer sends costs no failed send, and
//! every acknowledged message is readable afterwards where the producer was
//! told it is. A killed NameServer does not stop producers or consumers,
//! old or new.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromq_client::{
    ConsumeFrom, Message, MqClient, Producer, PullConsumer, SendResult, TopicName,
};
use ferromq_tests::multi::MultiCluster;
use ferromq_tests::wait_for;
use parking_lot::Mutex;

const MESSAGES: usize = 20_000;
const SENDERS: usize = 16;

fn consumer(client: &MqClient, group: &str) -> PullConsumer {
    PullConsumer::builder()
        .client(client.clone())
        .group(group)
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_broker_mid_stream_loses_no_acknowledged_message() {
    let mut c = MultiCluster::start(2, &["broker-a", "broker-b"], &[]).await;
    let topic = c.create_topic("Failover", 2).await.0;
    let client = c.client(Duration::from_millis(500));
    let producer = Producer::builder()
        .client(client.clone())
        .group("failover")
        .build()
        .unwrap();

    // SENDERS tasks share one producer and take message numbers in turn.
    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<(usize, SendResult)>>> = Arc::default();
    let failed: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (p, topic) = (producer.clone(), topic.clone());
            let (next, acked, failed) = (next.clone(), acked.clone(), failed.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= MESSAGES {
                        return;
                    }
                    let msg = Message::new(topic.clone(), format!("message {i}"));
                    match p.send(msg).await {
                        Ok(r) => acked.lock().push((i, r)),
                        Err(e) => failed.lock().push(format!("message {i}: {e}")),
                    }
                }
            })
        })
        .collect();

    wait_for("half of the messages", Duration::from_secs(60), || async {
        (acked.lock().len() >= MESSAGES / 2).then_some(())
    })
    .await;
    let before_kill = acked.lock().len();
    c.kill_broker(0);
    let killed_at = Instant::now();
    for s in senders {
        s.await.unwrap();
    }
    eprintln!(
        "sent {MESSAGES} in {:?} ({before_kill} before the kill, the rest in {:?})",
        started.elapsed(),
        killed_at.elapsed()
    );
    assert!(
        failed.lock().is_empty(),
        "failed sends: {:?}",
        &failed.lock()[..]
    );
    let acked = std::mem::take(&mut *acked.lock());
    assert_eq!(acked.len(), MESSAGES);
    let per_broker = acked.iter().fold(BTreeMap::new(), |mut m, (_, r)| {
        *m.entry(r.broker_name.to_string()).or_insert(0usize) += 1;
        m
    });
    eprintln!("acknowledged per broker: {per_broker:?}");
    assert!(per_broker.get("broker-a").copied().unwrap_or(0) > 0);
    assert!(per_broker["broker-b"] > MESSAGES / 2, "broker-b took over");

    // Bring the killed broker back on its store and read everything.
    let took = c.restart_broker(0).await;
    eprintln!("broker-a back in {took:?}");
    let reader = MqClient::connect(&c.namesrv_list()).unwrap();
    let consumer = consumer(&reader, "verify");
    consumer.subscribe(&topic).await.unwrap();
    let mut expected: HashMap<String, (usize, SendResult)> = acked
        .into_iter()
        .map(|(i, r)| (r.unique_id.clone(), (i, r)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut duplicates = 0;
    while !expected.is_empty() && Instant::now() < deadline {
        for m in consumer
            .poll_records(Duration::from_millis(200), 4096)
            .await
            .unwrap()
        {
            let id = m.message.unique_id().unwrap().to_string();
            let Some((i, r)) = expected.get(&id) else {
                duplicates += 1;
                continue;
            };
            // An unacknowledged copy of a retried send can be stored too;
            // only the copy the producer was told about counts.
            if m.queue.broker_name == r.broker_name
                && m.message.queue_id == r.queue_id
                && m.message.queue_offset == r.queue_offset
            {
                assert_eq!(m.message.msg_id(), r.msg_id, "message {i}");
                assert_eq!(m.message.message.body, format!("message {i}"));
                expected.remove(&id);
            } else {
                duplicates += 1;
            }
        }
    }
    consumer.shutdown().await;
    eprintln!("read back; {duplicates} unacknowledged copies of retried sends");
    assert!(
        expected.is_empty(),
        "{} acknowledged messages not found, e.g. {:?}",
        expected.len(),
        expected.values().next()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_and_consumers_carry_on_through_the_other_namesrv() {
    let mut c = MultiCluster::start(2, &["broker-a"], &[]).await;
    let before = c.create_topic("BeforeKill", 1).await.0;
    // Routes are re-read every 200 ms, so refreshes run while the first
    // NameServer (the one every client tries first) is dead.
    let client = c.client(Duration::from_millis(200));
    let producer = Producer::builder().client(client.clone()).build().unwrap();
    let old_consumer = consumer(&client, "old");
    old_consumer.subscribe(&before).await.unwrap();
    let send_and_read = |p: Producer, cons: PullConsumer, topic: TopicName, tag: &'static str| async move {
        for i in 0..50 {
            p.send(Message::new(topic.clone(), format!("{tag}-{i}")))
                .await
                .unwrap_or_else(|e| panic!("{tag} send {i}: {e}"));
        }
        let got = ferromq_tests::consume_n(&cons, 50, Duration::from_secs(15)).await;
        let mut bodies: Vec<String> = got
            .iter()
            .map(|m| String::from_utf8_lossy(&m.message.body).into_owned())
            .collect();
        bodies.sort_by_key(|b| b.rsplit('-').next().unwrap().parse::<u32>().unwrap());
        let want: Vec<String> = (0..50).map(|i| format!("{tag}-{i}")).collect();
        assert_eq!(bodies, want, "{tag}");
    };
    send_and_read(
        producer.clone(),
        old_consumer.clone(),
        before.clone(),
        "first",
    )
    .await;

    c.kill_namesrv(0);
    send_and_read(
        producer.clone(),
        old_consumer.clone(),
        before.clone(),
        "second",
    )
    .await;

    // After the kill: a new topic (mqadmin goes through the survivor), a
    // new producer and consumer configured with both NameServers, and the
    // old producer on the new topic.
    let after = c.create_topic("AfterKill", 1).await.0;
    let fresh = c.client(Duration::from_millis(200));
    let new_producer = Producer::builder().client(fresh.clone()).build().unwrap();
    let new_consumer = consumer(&fresh, "new");
    new_consumer.subscribe(&after).await.unwrap();
    send_and_read(new_producer, new_consumer.clone(), after.clone(), "third").await;
    send_and_read(producer, new_consumer.clone(), after, "fourth").await;
    let late_consumer = consumer(&fresh, "late");
    late_consumer.subscribe(&before).await.unwrap();
    let all = ferromq_tests::consume_n(&late_consumer, 100, Duration::from_secs(15)).await;
    assert_eq!(
        all.len(),
        100,
        "a consumer started after the kill reads everything"
    );
    for cons in [old_consumer, new_consumer, late_consumer] {
        cons.shutdown().await;
    }
}
