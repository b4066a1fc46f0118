//! Message lookups against a real broker: by offset message id, by key, by
//! unique id, by queue offset, and a queue offset by store time — before
//! and after a restart (the index must come back from disk).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferromq_client::{
    AdminClient, Message, MessageId, MessageQueue, QueueOffset, SendResult, TopicName,
};
use ferromq_tests::{producer, TestCluster};

const N: usize = 24;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn body(i: usize) -> String {
    format!("body-{i}")
}

fn bodies(msgs: &[ferromq_client::StoredMessage]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8(m.message.body.to_vec()).unwrap())
        .collect()
}

/// Sends `N` messages: key `k-{i % 4}` and `order-{i}` each. Half of them
/// before `split`, half after, with a pause around it so store times fall
/// clearly on either side.
async fn send_all(namesrv: &str, topic: &TopicName) -> (Vec<SendResult>, u64) {
    let p = producer(namesrv);
    let mut sent = Vec::new();
    let mut split = 0;
    for i in 0..N {
        if i == N / 2 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            split = now_ms();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let m = Message::new(topic.clone(), body(i))
            .with_key(format!("k-{}", i % 4))
            .with_key(format!("order-{i}"))
            .with_tags("Q");
        sent.push(p.send(m).await.unwrap());
    }
    (sent, split)
}

async fn check_lookups(admin: &AdminClient, topic: &TopicName, sent: &[SendResult], split: u64) {
    // By offset message id: every one of them.
    for (i, r) in sent.iter().enumerate() {
        let m = admin.query_by_id(&r.msg_id).await.unwrap().unwrap();
        assert_eq!(bodies(std::slice::from_ref(&m)), [body(i)]);
        assert_eq!(m.msg_id(), r.msg_id);
        assert_eq!(m.unique_id(), Some(r.unique_id.as_str()));
        assert_eq!((m.queue_id, m.queue_offset), (r.queue_id, r.queue_offset));
        assert_eq!(
            m.message.keys,
            [format!("k-{}", i % 4), format!("order-{i}")]
        );
    }
    let past_the_end = MessageId::new(sent[0].msg_id.store_host(), (1u64 << 40).into());
    assert!(admin.query_by_id(&past_the_end).await.unwrap().is_none());

    // By key: all six with k-1, newest first; and the newest two only.
    let k1 = admin.query_by_key(topic, "k-1", 64).await.unwrap();
    let want: BTreeSet<String> = (0..N).filter(|i| i % 4 == 1).map(body).collect();
    assert_eq!(bodies(&k1).into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(k1.len(), want.len(), "no duplicates");
    assert!(k1
        .windows(2)
        .all(|w| w[0].store_timestamp >= w[1].store_timestamp));
    let newest = admin.query_by_key(topic, "k-1", 2).await.unwrap();
    assert_eq!(bodies(&newest), [body(N - 3), body(N - 7)]);
    let one = admin.query_by_key(topic, "order-5", 10).await.unwrap();
    assert_eq!(bodies(&one), [body(5)]);
    assert!(admin
        .query_by_key(topic, "no-such-key", 10)
        .await
        .unwrap()
        .is_empty());
    // Only the ones stored after the split.
    let late = admin
        .query_by_key_in_range(topic, "k-1", 64, split..=u64::MAX)
        .await
        .unwrap();
    let want: BTreeSet<String> = (N / 2..N).filter(|i| i % 4 == 1).map(body).collect();
    assert_eq!(bodies(&late).into_iter().collect::<BTreeSet<_>>(), want);

    // By unique id.
    let u = admin
        .query_by_unique_id(topic, &sent[7].unique_id)
        .await
        .unwrap();
    assert_eq!(bodies(&u), [body(7)]);
    assert!(admin
        .query_by_unique_id(topic, "00000000000000000000000000000000")
        .await
        .unwrap()
        .is_empty());

    // By queue offset.
    let r = &sent[9];
    let m = admin
        .query_by_offset(&r.broker_name, topic, r.queue_id, r.queue_offset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bodies(&[m]), [body(9)]);

    // Queue offset by time: the first message after the split, per queue.
    let queues: BTreeSet<_> = sent
        .iter()
        .map(|r| (r.broker_name.clone(), r.queue_id))
        .collect();
    for (broker, queue_id) in queues {
        let q = MessageQueue::new(topic.clone(), broker.clone(), queue_id);
        let in_queue: Vec<&SendResult> = sent
            .iter()
            .filter(|r| r.broker_name == broker && r.queue_id == queue_id)
            .collect();
        let first_late = sent[N / 2..]
            .iter()
            .find(|r| r.broker_name == broker && r.queue_id == queue_id)
            .map(|r| r.queue_offset)
            .unwrap();
        assert_eq!(
            admin.search_offset(&q, split).await.unwrap(),
            first_late,
            "{q}"
        );
        assert_eq!(
            admin.search_offset(&q, 0).await.unwrap(),
            QueueOffset::new(0)
        );
        let after_all = admin.search_offset(&q, now_ms() + 3_600_000).await.unwrap();
        assert_eq!(after_all.get(), in_queue.len() as u64, "{q}: max offset");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_find_the_right_messages_before_and_after_a_restart() {
    let mut c = TestCluster::start().await;
    let topic = c.create_topic("Lookups", 2).await;
    let (sent, split) = send_all(c.namesrv_addr(), &topic).await;

    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    check_lookups(&admin, &topic, &sent, split).await;

    c.restart_broker().await;
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    check_lookups(&admin, &topic, &sent, split).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_on_an_unknown_topic_are_clear_errors() {
    let c = TestCluster::start().await;
    c.create_topic("Known", 1).await;
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let unknown = TopicName::new("Unknown").unwrap();
    let e = admin.query_by_key(&unknown, "k", 1).await.unwrap_err();
    assert!(e.to_string().contains("no route for topic Unknown"), "{e}");
    let e = admin.query_by_unique_id(&unknown, "X").await.unwrap_err();
    assert!(e.to_string().contains("no route for topic Unknown"), "{e}");
}
