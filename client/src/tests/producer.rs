use std::sync::atomic::Ordering;
use std::time::Duration;

use ferromq_protocol::{QueueId, QueueOffset, ResponseCode};

use super::{msg, producer, topic};
use crate::mock::MockCluster;
use crate::{AdminClient, ClientError, MessageQueue, Producer, SendStatus};

#[tokio::test]
async fn send_reports_where_the_message_went() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 4);
    let p = producer(&c);
    let r = p
        .send(msg("T", "hello").with_key("k1").with_tags("TagA"))
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    assert_eq!(r.broker_name.as_str(), "broker-a");
    assert_eq!(*r.broker_addr, *c.brokers[0].addr.lock());
    assert_eq!(r.queue_offset, QueueOffset::new(0));
    assert_eq!(r.unique_id.len(), 32);
    assert_eq!(r.msg_id.store_host().to_string(), *r.broker_addr);

    let admin = AdminClient::new(p.client().clone());
    let q = MessageQueue::new(topic("T"), r.broker_name.clone(), r.queue_id);
    let stored = admin
        .read_messages(&q, QueueOffset::new(0), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].msg_id(), r.msg_id);
    assert_eq!(stored[0].unique_id(), Some(r.unique_id.as_str()));
    assert_eq!(stored[0].message.body, "hello");
    assert_eq!(stored[0].message.keys, ["k1"]);
}

#[tokio::test]
async fn batch_ids_match_the_stored_records() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let p = producer(&c);
    p.send(msg("T", "first")).await.unwrap();
    let batch = vec![msg("T", "a"), msg("T", "bbbbbbbb"), msg("T", "cc")];
    let results = p.send_batch(batch).await.unwrap();
    let admin = AdminClient::new(p.client().clone());
    let q = MessageQueue::new(topic("T"), results[0].broker_name.clone(), QueueId::new(0));
    let stored = admin
        .read_messages(&q, QueueOffset::new(1), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    for (r, s) in results.iter().zip(&stored) {
        assert_eq!(r.msg_id, s.msg_id());
        assert_eq!(r.queue_offset, s.queue_offset);
        assert_eq!(Some(r.unique_id.as_str()), s.unique_id());
    }
    assert_eq!(
        c.brokers[0].sends.load(Ordering::SeqCst),
        2,
        "one request per batch"
    );
}

#[tokio::test]
async fn sends_spread_round_robin_over_brokers_and_queues() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    for i in 0..8 {
        p.send(msg("T", format!("m{i}"))).await.unwrap();
    }
    for b in &c.brokers {
        assert_eq!(b.sends.load(Ordering::SeqCst), 4);
        assert_eq!(b.max_offset(&topic("T"), 0), 2);
        assert_eq!(b.max_offset(&topic("T"), 1), 2);
    }
}

#[tokio::test]
async fn retry_moves_to_another_broker() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    c.brokers[0].fail_sends.store(1000, Ordering::SeqCst);
    let p = producer(&c);
    for i in 0..6 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
    }
    assert!(
        c.brokers[0].sends.load(Ordering::SeqCst) <= 6,
        "at most one try per send on the busy broker"
    );
    assert_eq!(c.brokers[1].sends.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn dead_broker_still_in_the_route_is_avoided() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    p.send(msg("T", "warm-up")).await.unwrap();
    c.kill(0);
    for i in 0..4 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
    }
}

#[tokio::test]
async fn retries_are_bounded_and_report_the_last_error() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    c.brokers[0].fail_sends.store(1000, Ordering::SeqCst);
    let p = producer(&c);
    let e = p.send(msg("T", "x")).await.unwrap_err();
    assert_eq!(e.response_code(), Some(ResponseCode::SystemBusy));
    assert_eq!(
        c.brokers[0].sends.load(Ordering::SeqCst),
        3,
        "1 try + 2 retries"
    );
}

#[tokio::test]
async fn caller_faults_are_not_retried() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    let q = MessageQueue::new(topic("T"), c.brokers[0].name.clone(), QueueId::new(99));
    let e = p.send_to_queue(msg("T", "x"), &q).await.unwrap_err();
    assert_eq!(e.response_code(), Some(ResponseCode::BadRequest));
    assert_eq!(c.brokers[0].sends.load(Ordering::SeqCst), 1);

    let big = Producer::builder()
        .client(c.client())
        .max_message_size(8)
        .build()
        .unwrap();
    let e = big.send(msg("T", "123456789")).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::InvalidArgument(m) if m.contains("maximum message size")),
        "{e}"
    );
    assert_eq!(c.brokers[0].sends.load(Ordering::SeqCst), 1, "nothing sent");
}

#[tokio::test]
async fn unknown_topic_is_no_route() {
    let c = MockCluster::start(&["broker-a"]).await;
    let e = producer(&c).send(msg("Nope", "x")).await.unwrap_err();
    assert!(matches!(&e, ClientError::NoRoute(t) if t == "Nope"));
    assert_eq!(
        e.to_string(),
        "no route for topic Nope — create it with mqadmin updateTopic"
    );
}

#[tokio::test]
async fn flush_timeout_is_a_status_not_a_success() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    c.brokers[0].flush_timeout.store(true, Ordering::SeqCst);
    let r = producer(&c).send(msg("T", "x")).await.unwrap();
    assert_eq!(r.status, SendStatus::FlushDiskTimeout);
    assert_eq!(c.brokers[0].sends.load(Ordering::SeqCst), 1, "not retried");
}

#[tokio::test]
async fn send_async_runs_in_the_background_and_send_to_queue_is_exact() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 4);
    let p = producer(&c);
    let futures: Vec<_> = (0..10)
        .map(|i| p.send_async(msg("T", format!("m{i}"))))
        .collect();
    // Every message reaches a broker while nobody awaits the futures (the
    // producer may have batched some of them).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let total: usize = c
            .brokers
            .iter()
            .map(|b| b.messages.load(Ordering::SeqCst))
            .sum();
        if total == 10 {
            break;
        }
        assert!(total < 10, "{total} messages for 10 sends");
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {total} of 10 sent without being awaited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for f in futures {
        assert_eq!(f.await.unwrap().status, SendStatus::Ok);
    }
    let q = MessageQueue::new(topic("T"), c.brokers[1].name.clone(), QueueId::new(3));
    for _ in 0..3 {
        let r = p.send_to_queue(msg("T", "x"), &q).await.unwrap();
        assert_eq!(
            (r.broker_name.clone(), r.queue_id),
            (q.broker_name.clone(), q.queue_id)
        );
    }
}

#[tokio::test]
async fn a_broker_gone_from_the_route_is_dropped_after_a_refresh() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    p.send(msg("T", "warm-up")).await.unwrap();
    let calls = c.namesrv.route_calls.load(Ordering::SeqCst);
    c.kill(0);
    c.unlist(0);
    for i in 0..4 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
    }
    assert!(
        c.namesrv.route_calls.load(Ordering::SeqCst) > calls,
        "route re-read"
    );
    let route = p.client().cached_route(&topic("T")).unwrap();
    assert!(route
        .write_queues()
        .iter()
        .all(|q| q.broker_name.as_str() == "broker-b"));
}
