//! An fsync failure under sync flush: the send fails with the store-error
//! status, the broker acknowledges nothing it did not flush, and reads go on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use ferromq_client::{Message, SendStatus};
use ferromq_protocol::header::{PullMessageRequest, PullMessageResponse};
use ferromq_protocol::record;
use ferromq_protocol::{GroupName, QueueId, QueueOffset, ResponseCode, TopicName};
use ferromq_remoting::{Connection, Reply};
use ferromq_tests::{encode_records, producer, raw_send, wait_for, TestCluster};

const T: Duration = Duration::from_secs(5);

async fn send(
    conn: &Connection,
    topic: &TopicName,
    body: &str,
) -> Result<u64, ferromq_remoting::RemotingError> {
    let records = encode_records(&[Message::new(topic.clone(), body.to_string())]);
    raw_send(conn, topic, records, 1).await
}

/// Up to 32 messages of queue 0 of `topic`, from its start.
async fn pull_from_start(conn: &Connection, topic: &TopicName) -> Reply<PullMessageResponse> {
    let pull = PullMessageRequest {
        consumer_group: GroupName::new("g").unwrap(),
        topic: topic.clone(),
        queue_id: QueueId::new(0),
        queue_offset: QueueOffset::new(0),
        max_messages: 32,
        max_bytes: 1 << 20,
        hold_ms: 0,
        expression: None,
    };
    conn.call(&pull, Bytes::new(), T).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_failure_fails_sends_and_keeps_reads() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("FsyncFail", 1).await;
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    assert_eq!(send(&conn, &topic, "durable").await.unwrap(), 0);

    c.store().inject_fsync_failure();
    let err = send(&conn, &topic, "lost").await.unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::StoreError), "{err}");
    // The store stays poisoned: later sends fail the same way, with a reason.
    let err = send(&conn, &topic, "refused").await.unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::StoreError));
    assert!(err.to_string().contains("restart"), "{err}");
    // The producer API surfaces it as an error too, not a success.
    let p = producer(c.namesrv_addr());
    assert!(p
        .send(Message::new(topic.clone(), "via producer"))
        .await
        .is_err());

    // Reads go on, and only the flushed message is visible.
    let r = pull_from_start(&conn, &topic).await;
    assert_eq!(r.code, ResponseCode::Success);
    let msgs = record::decode_all(&r.body).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].message.body[..], b"durable");
    assert_eq!(
        r.header.max_offset.get(),
        1,
        "an unflushed message became visible"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_fsync_is_a_flush_timeout_for_plain_and_delayed_sends() {
    let c =
        TestCluster::start_with(|b| b.store.sync_flush_timeout = Duration::from_millis(100)).await;
    let topic = c.create_topic("SlowFsync", 1).await;
    let p = producer(c.namesrv_addr());
    c.store().inject_fsync_delay(Duration::from_millis(400));
    let plain = p.send(Message::new(topic.clone(), "plain")).await.unwrap();
    assert_eq!(plain.status, SendStatus::FlushDiskTimeout);
    // A delayed message goes to the schedule topic first; its answer must
    // not claim a flush that did not happen either.
    let delayed = p
        .send(Message::new(topic.clone(), "delayed").with_property("DELAY", "1"))
        .await
        .unwrap();
    assert_eq!(delayed.status, SendStatus::FlushDiskTimeout);
    c.store().inject_fsync_delay(Duration::ZERO);
    // Once the slow fdatasyncs in progress are over, sends are fast again.
    let store = c.store();
    wait_for("the slow flushes to finish", T, || async {
        let s = store.stats();
        (s.flushed_offset == s.written_offset).then_some(())
    })
    .await;
    let fast = p.send(Message::new(topic.clone(), "fast")).await.unwrap();
    assert_eq!(fast.status, SendStatus::Ok);
}

/// A broker with a 100 ms sync-flush timeout, a one-queue topic, and a
/// producer that neither retries nor gives up before 1 s, warmed up with
/// one send: what the stalled-disk tests share.
async fn stalling_broker(name: &str) -> (TestCluster, TopicName, ferromq_client::Producer) {
    let c =
        TestCluster::start_with(|b| b.store.sync_flush_timeout = Duration::from_millis(100)).await;
    let topic = c.create_topic(name, 1).await;
    let p = ferromq_client::Producer::builder()
        .namesrv_addr(c.namesrv_addr())
        .send_timeout(Duration::from_millis(1000))
        .retries(0)
        .build()
        .unwrap();
    p.send(Message::new(topic.clone(), "warm-up"))
        .await
        .unwrap();
    (c, topic, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_during_a_stalled_fsync_get_flush_timeout_not_silence() {
    // A disk that stalls: every fdatasync takes 1.5 s. A send that arrives
    // while one is in progress is still written at once and answered
    // FlushDiskTimeout after sync_flush_timeout, well within the
    // producer's own timeout: the broker never goes quiet on it.
    let (c, topic, p) = stalling_broker("StalledFsync").await;
    let store = c.store();
    store.inject_fsync_delay(Duration::from_millis(1500));
    let first = tokio::spawn({
        let (p, t) = (p.clone(), topic.clone());
        async move { p.send(Message::new(t, "first")).await }
    });
    wait_for("an fdatasync in progress", T, || async {
        let s = store.stats();
        (s.written_offset > s.flushed_offset).then_some(())
    })
    .await;
    let second = p.send(Message::new(topic.clone(), "second")).await;
    let first = first.await.unwrap();
    store.inject_fsync_delay(Duration::ZERO);
    for (name, r) in [("first", first), ("second", second)] {
        let r = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.status, SendStatus::FlushDiskTimeout, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_during_a_stalled_device_write_get_an_answer_not_silence() {
    // A disk whose writes stall for 1.5 s. The send whose write is stuck
    // has its place in the log and is answered FlushDiskTimeout; a send
    // queued behind that write is withdrawn and answered SystemBusy, with
    // nothing written. Both answers come after sync_flush_timeout, well
    // within the producer's own timeout.
    let (c, topic, p) = stalling_broker("StalledWrite").await;
    let store = c.store();
    store.inject_write_delay(Duration::from_millis(1500));
    let first = p.send(Message::new(topic.clone(), "first")).await.unwrap();
    assert_eq!(first.status, SendStatus::FlushDiskTimeout);
    assert_eq!(first.queue_offset.get(), 1);
    let err = p
        .send(Message::new(topic.clone(), "withdrawn"))
        .await
        .unwrap_err();
    assert_eq!(err.response_code(), Some(ResponseCode::SystemBusy), "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");

    store.inject_write_delay(Duration::ZERO);
    wait_for("the stalled write to finish", T, || async {
        let s = store.stats();
        (s.flushed_offset == s.written_offset && s.messages == 2).then_some(())
    })
    .await;
    let third = p.send(Message::new(topic.clone(), "third")).await.unwrap();
    assert_eq!(third.status, SendStatus::Ok);
    assert_eq!(
        third.queue_offset.get(),
        2,
        "the withdrawn send took no place"
    );
    let conn = Connection::connect(c.broker_addr(), T).await.unwrap();
    let r = pull_from_start(&conn, &topic).await;
    let bodies: Vec<Bytes> = record::decode_all(&r.body)
        .unwrap()
        .into_iter()
        .map(|m| m.message.body)
        .collect();
    assert_eq!(bodies, [&b"warm-up"[..], b"first", b"third"]);
}
