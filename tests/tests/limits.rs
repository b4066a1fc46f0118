//! Producer-side size limits against a real broker: an over-limit batch or
//! body is refused before anything is sent (the broker's offsets do not
//! move), and the message-size limit applies to the body as sent, after
//! compression.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferromq_client::{AdminClient, ClientError, Message, Producer, TopicName};
use ferromq_tests::{producer, TestCluster};
use rand::RngCore;

fn random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b
}

async fn total_max_offset(admin: &AdminClient, topic: &TopicName) -> u64 {
    admin
        .topic_status(topic)
        .await
        .unwrap()
        .iter()
        .flat_map(|b| &b.queues)
        .map(|q| q.max_offset.get())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_sends_are_refused_before_anything_is_sent() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Limits", 2).await;
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let p = producer(c.namesrv_addr());

    // Five incompressible 1 MiB bodies: each fits, the batch (4 MiB) not.
    let batch: Vec<Message> = (0..5)
        .map(|_| Message::new(topic.clone(), random(1024 * 1024)))
        .collect();
    let e = p.send_batch(batch).await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
    assert!(!e.is_retryable());
    let s = e.to_string();
    assert!(
        s.contains("batch of 5 messages exceeds the maximum batch size of 4194304 bytes"),
        "{s}"
    );

    // One incompressible body over 4 MiB.
    let e = p
        .send(Message::new(topic.clone(), random(4 * 1024 * 1024 + 1)))
        .await
        .unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("body of 4194305 bytes exceeds the maximum message size of 4194304 bytes"),
        "{s}"
    );
    assert_eq!(total_max_offset(&admin, &topic).await, 0, "nothing stored");

    // A tighter producer limit is the producer's own.
    let strict = Producer::builder()
        .namesrv_addr(c.namesrv_addr())
        .max_message_size(1000)
        .max_batch_bytes(2000)
        .build()
        .unwrap();
    assert!(strict
        .send(Message::new(topic.clone(), random(1001)))
        .await
        .is_err());
    let small: Vec<Message> = (0..10)
        .map(|_| Message::new(topic.clone(), random(300)))
        .collect();
    assert!(strict.send_batch(small).await.is_err());
    assert_eq!(total_max_offset(&admin, &topic).await, 0, "nothing stored");

    // 6 MiB of text compresses far below 4 MiB: the limit is on the body as
    // sent, so it goes through, and comes back whole.
    let text = "abcdefghij0123456789".repeat(6 * 1024 * 1024 / 20);
    let r = p
        .send(Message::new(topic.clone(), text.clone()))
        .await
        .unwrap();
    let m = admin.query_by_id(&r.msg_id).await.unwrap().unwrap();
    assert_eq!(m.message.body, text);
    assert!((m.stored_size as usize) < 4 * 1024 * 1024);
    assert_eq!(total_max_offset(&admin, &topic).await, 1);
}
