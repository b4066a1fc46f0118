//! Body compression end to end: large bodies are stored LZ4-compressed and
//! come back whole to consumers and lookups; a corrupt or oversized
//! compressed body is skipped by consumers and reported by lookups, never a
//! panic, and the broker keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_client::protocol::header::SendMessageRequest;
use ferromq_client::protocol::record::{self, BornInfo};
use ferromq_client::protocol::CompressionError;
use ferromq_client::{
    AdminClient, ClientError, Message, MessageQueue, MqClient, QueueId, QueueOffset, TopicName,
};
use ferromq_tests::{consume_n, consumer, producer, TestCluster};

fn text(n: usize) -> String {
    "It was the best of times, it was the worst of times, it was the age of wisdom. "
        .chars()
        .cycle()
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_stored_compressed_and_read_back_whole() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Compressed", 1).await;
    let p = producer(c.namesrv_addr());
    let big = text(64 * 1024);
    let single = p
        .send(Message::new(topic.clone(), big.clone()))
        .await
        .unwrap();
    // A batch: message ids are derived from the compressed record sizes.
    let batch: Vec<Message> = (0..3)
        .map(|i| Message::new(topic.clone(), format!("{i}:{}", text(20_000 + i))))
        .collect();
    let batch_results = p.send_batch(batch).await.unwrap();
    let small = p.send(Message::new(topic.clone(), "tiny")).await.unwrap();

    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let m = admin.query_by_id(&single.msg_id).await.unwrap().unwrap();
    assert_eq!(m.message.body, big);
    assert_eq!(m.flags & record::COMPRESSION_MASK, 0, "flag cleared");
    assert!(
        (m.stored_size as usize) < big.len() / 8,
        "64 KiB stored in {} bytes",
        m.stored_size
    );
    for (i, r) in batch_results.iter().enumerate() {
        let m = admin.query_by_id(&r.msg_id).await.unwrap().unwrap();
        assert_eq!(m.message.body, format!("{i}:{}", text(20_000 + i)));
        assert!((m.stored_size as usize) < 20_000 / 4);
    }
    let m = admin.query_by_id(&small.msg_id).await.unwrap().unwrap();
    assert_eq!(m.message.body, "tiny");

    // Consumers get the original bodies; stored sizes stay the compressed
    // records' sizes.
    let cons = consumer(c.namesrv_addr(), "readers");
    cons.subscribe(&topic).await.unwrap();
    let got = consume_n(&cons, 5, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].message.body, big);
    let stored: u64 = got.iter().map(|m| u64::from(m.stored_size)).sum();
    let original: usize = got.iter().map(|m| m.message.body.len()).sum();
    assert!(stored * 5 < original as u64, "{stored} of {original}");
    assert!(got.iter().all(|m| m.flags & record::COMPRESSION_MASK == 0));
    cons.shutdown().await;
}

/// Sends one record flagged LZ4 with `body` as is (no producer writes such
/// a thing), keyed `raw`.
async fn send_raw_lz4(client: &MqClient, addr: &str, topic: &TopicName, body: Vec<u8>) {
    let mut m = Message::new(topic.clone(), Bytes::from(body)).with_key("raw");
    m.properties
        .insert(record::PROPERTY_UNIQ_KEY.into(), "RAW".into());
    let born = BornInfo {
        timestamp: 1,
        host: "127.0.0.1:0".parse().unwrap(),
        flags: record::COMPRESSION_LZ4,
        reconsume_times: 0,
    };
    let mut buf = BytesMut::new();
    record::encode(&m, born, 1 << 20, &mut buf).unwrap();
    let req = SendMessageRequest {
        producer_group: None,
        topic: topic.clone(),
        queue_id: QueueId::new(0),
        count: 1,
    };
    client
        .call(addr, &req, buf.freeze(), Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_oversized_compressed_bodies_are_refused_without_panic() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Hostile", 1).await;
    let client = MqClient::connect(c.namesrv_addr()).unwrap();
    // Declares 5000 bytes, holds garbage.
    let mut garbage = 5000u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(&[0xF0; 100]);
    send_raw_lz4(&client, c.broker_addr(), &topic, garbage).await;
    // Declares 4 GiB: must be refused before anything is allocated.
    let mut bomb = u32::MAX.to_be_bytes().to_vec();
    bomb.extend_from_slice(&[0x1F, 0, 0, 0, 0, 0]);
    send_raw_lz4(&client, c.broker_addr(), &topic, bomb).await;
    let p = producer(c.namesrv_addr());
    let good = p
        .send(Message::new(topic.clone(), text(10_000)))
        .await
        .unwrap();

    // Consumers skip both (with an error log) and deliver what follows.
    let cons = consumer(c.namesrv_addr(), "survivors");
    cons.subscribe(&topic).await.unwrap();
    let got = consume_n(&cons, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].queue_offset, QueueOffset::new(2));
    assert_eq!(got[0].message.body, text(10_000));
    cons.commit().await.unwrap();
    cons.shutdown().await;

    // Lookups name the problem.
    let admin = AdminClient::connect(c.namesrv_addr()).unwrap();
    let broker = good.broker_name.clone();
    let at = |o| admin.query_by_offset(&broker, &topic, QueueId::new(0), QueueOffset::new(o));
    match at(0).await {
        Err(ClientError::Compression(CompressionError::Corrupt(m))) => {
            assert!(!m.is_empty())
        }
        other => panic!("{other:?}"),
    }
    match at(1).await {
        Err(ClientError::Compression(CompressionError::TooLarge { len, max })) => {
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(max, ferromq_client::protocol::MAX_UNCOMPRESSED_BODY);
        }
        other => panic!("{other:?}"),
    }
    let e = admin.query_by_key(&topic, "raw", 10).await.unwrap_err();
    assert!(e.to_string().contains("cannot be decompressed"), "{e}");
    let e = admin.query_by_unique_id(&topic, "RAW").await.unwrap_err();
    assert!(matches!(e, ClientError::Compression(_)), "{e}");

    // The broker is fine.
    let q = MessageQueue::new(topic.clone(), broker.clone(), QueueId::new(0));
    let (_, max) = admin.queue_offsets(&q).await.unwrap();
    assert_eq!(max, QueueOffset::new(3));
    p.send(Message::new(topic.clone(), "still serving"))
        .await
        .unwrap();
}
