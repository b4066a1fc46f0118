//! Message lookups, compression and size limits against the mock cluster.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::header::SendMessageRequest;
use ferromq_protocol::record::{self, BornInfo};
use ferromq_protocol::{BrokerName, CompressionError, MessageId, QueueId, QueueOffset};

use super::{msg, poll_n, producer, topic};
use crate::mock::MockCluster;
use crate::{AdminClient, ClientError, ConsumeFrom, MessageQueue, Producer, PullConsumer};

fn text(n: usize) -> String {
    "lorem ipsum dolor sit amet, consectetur adipiscing elit. "
        .chars()
        .cycle()
        .take(n)
        .collect()
}

#[tokio::test]
async fn lookups_by_id_key_unique_id_and_offset() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    let mut sent = Vec::new();
    for i in 0..6 {
        let m = msg("T", format!("m{i}")).with_key(if i % 2 == 0 { "even" } else { "odd" });
        sent.push(p.send(m).await.unwrap());
    }
    let admin = AdminClient::new(c.client());

    let r = &sent[3];
    let m = admin.query_by_id(&r.msg_id).await.unwrap().unwrap();
    assert_eq!(m.message.body, "m3");
    assert_eq!(m.msg_id(), r.msg_id);
    let nowhere = MessageId::new(r.msg_id.store_host(), (1 << 40).into());
    assert!(admin.query_by_id(&nowhere).await.unwrap().is_none());

    // Both brokers are asked; newest first.
    let even = admin.query_by_key(&topic("T"), "even", 10).await.unwrap();
    let bodies: Vec<_> = even.iter().map(|m| m.message.body.clone()).collect();
    assert_eq!(bodies.len(), 3);
    let brokers: std::collections::HashSet<_> = [0, 2, 4]
        .iter()
        .map(|&i| sent[i].broker_name.clone())
        .collect();
    assert!(brokers.len() > 1, "round-robin spread the sends");
    assert!(even
        .windows(2)
        .all(|w| w[0].store_timestamp >= w[1].store_timestamp));
    assert_eq!(
        admin
            .query_by_key(&topic("T"), "odd", 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(admin
        .query_by_key(&topic("T"), "none", 5)
        .await
        .unwrap()
        .is_empty());
    for bad in ["", "a b"] {
        assert!(matches!(
            admin.query_by_key(&topic("T"), bad, 5).await,
            Err(ClientError::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        admin.query_by_key(&topic("T"), "odd", 0).await,
        Err(ClientError::InvalidArgument(_))
    ));
    assert!(matches!(
        admin.query_by_key(&topic("Nope"), "odd", 1).await,
        Err(ClientError::NoRoute(_))
    ));

    let by_uniq = admin
        .query_by_unique_id(&topic("T"), &sent[5].unique_id)
        .await
        .unwrap();
    assert_eq!(by_uniq.len(), 1);
    assert_eq!(by_uniq[0].message.body, "m5");
    assert!(admin
        .query_by_unique_id(&topic("T"), "NOPE")
        .await
        .unwrap()
        .is_empty());

    let m = admin
        .query_by_offset(&r.broker_name, &topic("T"), r.queue_id, r.queue_offset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.message.body, "m3");
    assert!(admin
        .query_by_offset(
            &r.broker_name,
            &topic("T"),
            r.queue_id,
            QueueOffset::new(99)
        )
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        admin
            .query_by_offset(
                &BrokerName::new("ghost").unwrap(),
                &topic("T"),
                QueueId::new(0),
                QueueOffset::new(0)
            )
            .await,
        Err(ClientError::BrokerUnavailable(_))
    ));

    let q = MessageQueue::new(topic("T"), r.broker_name.clone(), r.queue_id);
    assert_eq!(
        admin.search_offset(&q, m.store_timestamp).await.unwrap(),
        r.queue_offset
    );
    assert_eq!(
        admin.search_offset(&q, 0).await.unwrap(),
        QueueOffset::new(0)
    );
    let (_, max) = admin.queue_offsets(&q).await.unwrap();
    assert_eq!(admin.search_offset(&q, u64::MAX).await.unwrap(), max);
}

#[tokio::test]
async fn large_bodies_travel_compressed_and_come_back_whole() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = producer(&c);
    let big = text(64 * 1024);
    let r = p.send(msg("T", big.clone())).await.unwrap();
    let small = p.send(msg("T", "small")).await.unwrap();

    let admin = AdminClient::new(c.client());
    let m = admin.query_by_id(&r.msg_id).await.unwrap().unwrap();
    assert_eq!(m.message.body, big);
    assert_eq!(m.flags & record::COMPRESSION_MASK, 0, "flag cleared");
    assert!(
        (m.stored_size as usize) < big.len() / 10,
        "stored {} bytes",
        m.stored_size
    );
    // The offset id of the next record follows from the compressed size.
    assert_eq!(
        small.msg_id.offset().get(),
        r.msg_id.offset().get() + u64::from(m.stored_size)
    );

    let cons = PullConsumer::builder()
        .client(c.client())
        .group("g")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    cons.subscribe(&topic("T")).await.unwrap();
    let got = poll_n(&cons, 2, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message.body, big);
    assert_eq!(got[1].message.body, "small");

    // Switched off: stored as it is.
    let plain = Producer::builder()
        .client(c.client())
        .compress_threshold(None)
        .build()
        .unwrap();
    let r = plain.send(msg("T", big.clone())).await.unwrap();
    let m = admin.query_by_id(&r.msg_id).await.unwrap().unwrap();
    assert!(m.stored_size as usize > big.len());
}

/// A record flagged LZ4 whose body is `body`, sent as is (the producer
/// never writes such a thing).
async fn send_raw_lz4(c: &MockCluster, body: Vec<u8>) {
    let m = msg("T", "").with_key("raw");
    let m = crate::Message {
        body: Bytes::from(body),
        ..m
    };
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
        topic: topic("T"),
        queue_id: QueueId::new(0),
        count: 1,
    };
    let addr = c.brokers[0].addr.lock().clone();
    c.client()
        .call(&addr, &req, buf.freeze(), Duration::from_secs(2))
        .await
        .unwrap();
}

#[tokio::test]
async fn corrupt_or_oversized_compressed_bodies_are_refused_not_panicked_on() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let mut garbage = 5000u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(&[0xF0; 64]);
    send_raw_lz4(&c, garbage).await;
    let mut bomb = u32::MAX.to_be_bytes().to_vec();
    bomb.extend_from_slice(&[0x1F, 0, 0, 0, 0, 0]);
    send_raw_lz4(&c, bomb).await;
    producer(&c).send(msg("T", "good")).await.unwrap();

    let admin = AdminClient::new(c.client());
    let raw = admin.query_by_key(&topic("T"), "raw", 10).await;
    assert!(
        matches!(
            raw,
            Err(ClientError::Compression(CompressionError::Corrupt(_)))
                | Err(ClientError::Compression(CompressionError::TooLarge { .. }))
        ),
        "{raw:?}"
    );
    let q = MessageQueue::new(topic("T"), c.brokers[0].name.clone(), QueueId::new(0));
    let e = admin
        .query_by_offset(&q.broker_name, &q.topic, q.queue_id, QueueOffset::new(1))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("would decompress to 4294967295 bytes"),
        "{e}"
    );

    // The consumer skips both and goes on.
    let cons = PullConsumer::builder()
        .client(c.client())
        .group("g")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    cons.subscribe(&topic("T")).await.unwrap();
    let got = poll_n(&cons, 1, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message.body, "good");
    assert_eq!(got[0].queue_offset, QueueOffset::new(2));
}

#[tokio::test]
async fn over_limit_batches_are_refused_before_sending() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = Producer::builder()
        .client(c.client())
        .max_batch_bytes(10_000)
        .compress_threshold(None)
        .build()
        .unwrap();
    let batch: Vec<_> = (0..20).map(|_| msg("T", text(1000))).collect();
    let e = p.send_batch(batch).await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
    assert!(
        e.to_string().contains("maximum batch size of 10000 bytes"),
        "{e}"
    );
    assert!(!e.is_retryable());
    let e = p.send(msg("T", text(5 * 1024 * 1024))).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("exceeds the maximum message size of 4194304 bytes"),
        "{e}"
    );
    assert_eq!(c.brokers[0].sends.load(Ordering::SeqCst), 0, "nothing sent");
    assert!(Producer::builder()
        .client(c.client())
        .max_batch_bytes(64 * 1024 * 1024)
        .build()
        .is_err());
}
