//! Bad input is refused before anything is written.

use bytes::BytesMut;
use ferromq_protocol::record::{self, Message};
use ferromq_protocol::QueueId;

use super::*;
use crate::AppendError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_appends_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), FlushMode::Sync);
    c.max_message_size = 1000;
    c.max_batch_bytes = 4000;
    let (store, arrivals) = open_with(c);
    let t = topic("Valid");
    let q = QueueId::new(0);
    append_n(&store, "Valid", 0, 0, 3).await;
    wait_visible(&arrivals, "Valid", 0, 3);
    let written = store.stats().written_offset;

    let good = || encode(&t, &[body("Valid", 0, 3), body("Valid", 0, 4)]);
    let mut cases: Vec<(&str, BytesMut, u32, &TopicName)> = Vec::new();

    let (mut b, n) = good();
    let last = b.len() - 1;
    b[last] ^= 1;
    cases.push(("bad crc", b, n, &t));
    let (b, _) = good();
    cases.push(("count too high", b, 3, &t));
    let (b, _) = good();
    cases.push(("count too low", b, 1, &t));
    let (b, _) = good();
    cases.push(("count zero", b, 0, &t));
    let (mut b, n) = good();
    b.truncate(b.len() - 5);
    cases.push(("truncated", b, n, &t));
    let (b, n) = encode(&topic("Other"), &[body("Valid", 0, 3)]);
    cases.push(("topic mismatch", b, n, &t));
    let mut b = BytesMut::new();
    record::encode(
        &Message::new(t.clone(), vec![0u8; 1001]),
        born(),
        1 << 20,
        &mut b,
    )
    .unwrap();
    cases.push(("body too large", b, 1, &t));
    cases.push(("empty", BytesMut::new(), 1, &t));
    let big: Vec<Vec<u8>> = (0..100).map(|_| vec![7u8; 900]).collect();
    let (b, n) = encode(&t, &big);
    cases.push(("larger than a segment", b, n, &t));

    let big: Vec<Vec<u8>> = (0..5).map(|_| vec![7u8; 900]).collect();
    let (b, n) = encode(&t, &big);
    assert!(b.len() > 4000);
    cases.push(("batch over max_batch_bytes", b, n, &t));

    for (what, buf, count, topic) in cases {
        match store.append(topic, q, buf, count).await {
            Err(AppendError::Invalid(msg)) => assert!(!msg.is_empty(), "{what}"),
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(store.stats().written_offset, written);
    assert_eq!(store.max_offset(&t, q).get(), 3);
    // The store still works.
    append_n(&store, "Valid", 0, 3, 2).await;
    wait_visible(&arrivals, "Valid", 0, 5);
    assert_queue(&store, "Valid", 0, 5);
    // The batch limit says so, and applies to batches only: a single
    // message of the maximum body size is accepted.
    let (b, n) = encode(&t, &(0..5).map(|_| vec![7u8; 900]).collect::<Vec<_>>());
    match store.append(&t, q, b, n).await {
        Err(AppendError::Invalid(msg)) => assert!(msg.contains("maximum batch size"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let (b, n) = encode(&t, &[vec![1u8; 1000]]);
    assert!(b.len() > 1000);
    let r = store.append(&t, q, b, n).await.unwrap();
    assert_eq!(r.queue_offset.get(), 5);
    store.shutdown().await.unwrap();
}
