//! A hung broker — connection open, nothing answered — against the mock:
//! the client closes the connection after `close_after_timeouts` timeouts
//! in a row with nothing received, fails the calls in flight on it, and
//! dials again on the next call. The same with the real broker stopped by
//! SIGSTOP: `/tests/tests/hung_broker.rs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::{GetMaxOffsetRequest, SendMessageRequest};
use ferromq_protocol::QueueId;
use tokio::time::Instant;

use super::{msg, topic};
use crate::mock::MockCluster;
use crate::{ClientConfig, ClientError, MqClient, Producer, PullConsumer};

/// Timeout of the sends that are meant to time out: short, to keep the
/// tests quick.
const SEND_TIMEOUT: Duration = Duration::from_millis(300);
/// Timeout of everything meant to succeed: generous, for a loaded machine.
const OK_TIMEOUT: Duration = Duration::from_secs(5);

fn client(c: &MockCluster, close_after: Option<u32>) -> MqClient {
    let mut b = ClientConfig::builder()
        .namesrv_addr(&c.namesrv_addr)
        .request_timeout(OK_TIMEOUT)
        .connect_timeout(OK_TIMEOUT);
    if let Some(n) = close_after {
        b = b.close_after_timeouts(n);
    }
    MqClient::new(b.build().unwrap())
}

/// A producer whose sends time out after `timeout`.
fn producer(client: &MqClient, timeout: Duration) -> Producer {
    Producer::builder()
        .client(client.clone())
        .send_timeout(timeout)
        .build()
        .unwrap()
}

/// One broker with topic `T`, a client already connected to it (one send
/// went through), and producers whose sends time out quickly (`p`) or
/// not (`ok`).
struct Connected {
    c: MockCluster,
    client: MqClient,
    addr: String,
    p: Producer,
    ok: Producer,
    /// The connection's id after the first send.
    first: u64,
}

async fn connected(close_after: Option<u32>) -> Connected {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let addr = c.brokers[0].addr.lock().clone();
    let client = client(&c, close_after);
    let p = producer(&client, SEND_TIMEOUT);
    let ok = producer(&client, OK_TIMEOUT);
    ok.send(msg("T", "before")).await.unwrap();
    let first = client.connection_id(&addr).await.expect("connected");
    Connected {
        c,
        client,
        addr,
        p,
        ok,
        first,
    }
}

/// Polls `cond` until it holds; fails the test after 10 s.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A send that must time out (the broker is hung).
async fn send_times_out(p: &Producer, i: usize) {
    match p.send(msg("T", format!("m{i}"))).await {
        Err(ClientError::Timeout { .. }) => {}
        other => panic!("send {i}: expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hung_broker_is_dialled_again_after_three_timeouts_in_a_row() {
    let Connected {
        c,
        client,
        addr,
        p,
        ok,
        first,
    } = connected(None).await;
    let b = &c.brokers[0];
    assert_eq!(client.config().close_after_timeouts(), 3);

    b.hang(true);
    for i in 0..2 {
        send_times_out(&p, i).await;
        assert_eq!(client.connection_id(&addr).await, Some(first), "{i}");
    }
    // An answer on the connection: the broker is slow, not hung, and the
    // count starts over.
    let req = GetMaxOffsetRequest {
        topic: topic("T"),
        queue_id: QueueId::new(0),
    };
    client.call_header(&addr, &req).await.unwrap();
    for i in 2..4 {
        send_times_out(&p, i).await;
        assert_eq!(client.connection_id(&addr).await, Some(first), "{i}");
    }

    // A call in flight when the connection closes fails at once.
    let in_flight = tokio::spawn({
        let (client, addr) = (client.clone(), addr.clone());
        async move {
            let req = SendMessageRequest {
                producer_group: None,
                topic: topic("T"),
                queue_id: QueueId::new(0),
                count: 0,
            };
            let r = client
                .call(&addr, &req, Bytes::new(), Duration::from_secs(30))
                .await;
            r.map(|_| ())
        }
    });
    // The four timed-out sends are still held, and now this one.
    wait_until("the call in flight to arrive", || {
        b.held_sends.load(Ordering::SeqCst) == 5
    })
    .await;

    // The third timeout in a row since the answer closes the connection.
    send_times_out(&p, 4).await;
    assert_eq!(client.connection_id(&addr).await, None, "closed");
    let r = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the call in flight ends when the connection closes")
        .unwrap();
    assert!(
        matches!(&r, Err(e @ ClientError::ConnectionClosed(_)) if e.is_retryable()),
        "{r:?}"
    );
    // The socket is really closed: the broker sees the client go.
    wait_until("the broker to see the connection close", || {
        b.held_sends.load(Ordering::SeqCst) == 0
    })
    .await;

    // Back to normal: the next send dials a new connection.
    b.hang(false);
    ok.send(msg("T", "after")).await.unwrap();
    let second = client.connection_id(&addr).await.expect("connected again");
    assert_ne!(second, first);
    assert_eq!(
        b.conns.lock().len(),
        2,
        "the broker saw a second connection"
    );
}

#[tokio::test]
async fn a_connection_is_never_closed_for_timeouts_when_switched_off() {
    let Connected {
        c,
        client,
        addr,
        p,
        ok,
        first,
    } = connected(Some(0)).await;
    let b = &c.brokers[0];

    b.hang(true);
    for i in 0..4 {
        send_times_out(&p, i).await;
    }
    assert_eq!(client.connection_id(&addr).await, Some(first));
    b.hang(false);
    ok.send(msg("T", "after")).await.unwrap();
    assert_eq!(client.connection_id(&addr).await, Some(first));
    assert_eq!(b.conns.lock().len(), 1);
}

/// Long-polling pulls held for their whole hold time are answered before
/// their timeout (hold plus request timeout), so they never count, even
/// with a connection that closes at its first timeout.
#[tokio::test]
async fn held_pulls_do_not_count_as_timeouts() {
    let c = MockCluster::start(&["broker-a"]).await;
    c.create_topic("T", 1);
    let b = &c.brokers[0];
    let addr = b.addr.lock().clone();
    let client = client(&c, Some(1));
    let consumer = PullConsumer::builder()
        .client(client.clone())
        .group("g")
        .long_poll_hold(Duration::from_millis(200))
        .build()
        .unwrap();
    consumer.subscribe(&topic("T")).await.unwrap();
    wait_until("a pull", || b.pulls.load(Ordering::SeqCst) >= 1).await;
    let first = client.connection_id(&addr).await.expect("connected");
    // Each pull is held for the whole 200 ms (the queue stays empty).
    wait_until("four more pulls", || b.pulls.load(Ordering::SeqCst) >= 5).await;
    assert_eq!(client.connection_id(&addr).await, Some(first));
    assert_eq!(b.conns.lock().len(), 1);
    consumer.shutdown().await;
}
