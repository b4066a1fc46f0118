//! Fault avoidance, retries across brokers, the send timeout, dial backoff
//! and auto-create routes, against the mock cluster. The same behaviour is
//! tested with real processes in `/tests/tests/cluster_*.rs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ferromq_protocol::header::AUTO_CREATE_TOPIC;

use super::{msg, producer, topic};
use crate::mock::MockCluster;
use crate::{ClientConfig, ClientError, MqClient, Producer};

fn producer_with_fault(c: &MockCluster, on: bool) -> Producer {
    Producer::builder()
        .client(c.client())
        .send_timeout(Duration::from_secs(2))
        .send_latency_fault(on)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_failing_broker_is_avoided_by_later_sends() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    c.brokers[0].fail_sends.store(1000, Ordering::SeqCst);
    let p = producer_with_fault(&c, true);
    for i in 0..20 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
    }
    assert!(
        c.brokers[0].sends.load(Ordering::SeqCst) <= 1,
        "isolated after its first error"
    );

    // Without the strategy, only the current send avoids it: later sends
    // keep trying it in turn.
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    c.brokers[0].fail_sends.store(1000, Ordering::SeqCst);
    let p = producer_with_fault(&c, false);
    for i in 0..20 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
    }
    assert!(c.brokers[0].sends.load(Ordering::SeqCst) >= 5);
}

#[tokio::test]
async fn when_every_broker_failed_the_retry_moves_off_the_last_one() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 1);
    c.brokers[0].fail_sends.store(1, Ordering::SeqCst);
    c.brokers[1].fail_sends.store(1, Ordering::SeqCst);
    let p = producer_with_fault(&c, true);
    // Both fail once, so both are avoided; the third attempt goes back to
    // the one that did not fail last, and succeeds.
    let r = p.send(msg("T", "x")).await.unwrap();
    let first = if c.brokers[0].sends.load(Ordering::SeqCst) == 2 {
        "broker-a"
    } else {
        "broker-b"
    };
    assert_eq!(r.broker_name.as_str(), first);
    let total: usize = c
        .brokers
        .iter()
        .map(|b| b.sends.load(Ordering::SeqCst))
        .sum();
    assert_eq!(total, 3);
}

#[tokio::test]
async fn no_permission_is_retried_elsewhere_and_refreshes_the_route() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    for i in 0..4 {
        p.send(msg("T", format!("warm-{i}"))).await.unwrap();
    }
    let before = c.brokers[0].sends.load(Ordering::SeqCst);
    c.brokers[0].wipe_write_perm();
    for i in 0..20 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b", "send {i}");
    }
    assert!(
        c.brokers[0].sends.load(Ordering::SeqCst) - before <= 1,
        "the refreshed route no longer offers broker-a"
    );
    let route = p.client().cached_route(&topic("T")).unwrap();
    assert!(route
        .write_queues()
        .iter()
        .all(|q| q.broker_name.as_str() == "broker-b"));
    assert_eq!(route.read_queues().len(), 4, "still readable everywhere");
}

#[tokio::test]
async fn the_send_timeout_covers_every_attempt() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 1);
    for b in &c.brokers {
        b.send_delay_ms.store(5_000, Ordering::SeqCst);
    }
    let p = Producer::builder()
        .client(c.client())
        .send_timeout(Duration::from_millis(300))
        .retries(5)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let e = p.send(msg("T", "slow")).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(800),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_dead_address_is_redialled_only_after_its_backoff() {
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    let client = MqClient::new(
        ClientConfig::builder()
            .namesrv_addr(&dead)
            .reconnect_backoff(Duration::from_millis(200), Duration::from_millis(400))
            .build()
            .unwrap(),
    );
    let e = client.connection(&dead).await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    let started = tokio::time::Instant::now();
    let e = client.connection(&dead).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Backoff { retry_in_ms, .. } if *retry_in_ms <= 200),
        "{e}"
    );
    assert!(e.is_retryable() && e.is_transport());
    assert!(e.to_string().contains(&dead), "{e}");
    assert!(started.elapsed() < Duration::from_millis(50), "fails fast");
    tokio::time::sleep(Duration::from_millis(210)).await;
    let e = client.connection(&dead).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Connect { .. }),
        "dialled again: {e}"
    );
    // The next wait doubled.
    let e = client.connection(&dead).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Backoff { retry_in_ms, .. } if *retry_in_ms > 200),
        "{e}"
    );
}

#[tokio::test]
async fn a_new_topic_goes_to_the_brokers_that_create_topics() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.brokers[1].create_topic(AUTO_CREATE_TOPIC, 8);
    c.brokers[1].auto_create.store(true, Ordering::SeqCst);
    let p = producer(&c);
    let client = p.client().clone();
    assert!(
        matches!(
            client.topic_route(&topic("New")).await,
            Err(ClientError::NoRoute(_))
        ),
        "no route before the first send"
    );
    let mut queues = std::collections::BTreeSet::new();
    for i in 0..8 {
        let r = p.send(msg("New", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
        queues.insert(r.queue_id.get());
    }
    assert_eq!(queues.len(), 4, "AUTO_CREATE_QUEUES queues: {queues:?}");
    // Consumers only ever see the real route, which the NameServer now has.
    let route = client.refresh_route(&topic("New")).await.unwrap();
    assert_eq!(route.read_queues().len(), 4);
    assert_eq!(c.brokers[0].sends.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_auto_create_a_new_topic_has_no_route() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("Other", 2);
    let e = producer(&c).send(msg("New", "x")).await.unwrap_err();
    assert!(matches!(&e, ClientError::NoRoute(t) if t == "New"), "{e}");
    assert!(e.to_string().contains("mqadmin updateTopic"), "{e}");
}
