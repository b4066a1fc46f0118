//! Test fixtures for FerroMQ's cross-crate tests.
//!
//! * [`TestCluster`]: a NameServer and a broker in this process, on port 0,
//!   with the store in a temp dir; the broker can be stopped cleanly and
//!   restarted on the same store and port.
//! * [`BrokerProcess`], [`NameServerProcess`]: the real binaries as child
//!   processes, for tests that kill -9 them.
//! * [`wait_for`]: poll a condition with a deadline instead of sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

pub mod acks;
mod cluster;
pub mod hosts;
pub mod multi;
mod process;
pub mod stores;

pub use cluster::TestCluster;
pub use process::{
    binary_path, controller_peers, BrokerProcess, ControllerProcess, NameServerProcess,
    CONTROLLER_PORT,
};

use std::future::Future;
use std::time::Duration;

/// Commit-log segment size of the test brokers. Segments are allocated on
/// disk ahead of use (and, with sync flush, written full of zeroes), so the
/// 1 GiB default would cost gigabytes per test broker; 16 MiB still holds
/// the largest message and batch several times over.
pub const TEST_SEGMENT_SIZE: u64 = 16 << 20;

/// Turns on logging for a test run (`RUST_LOG`, default `warn`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
}

/// Polls `cond` every 10 ms until it returns `Some`, panicking with `what`
/// after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Creates `name` on every broker of `DefaultCluster` known to the
/// NameServer at `namesrv` and waits until the route shows all its queues.
pub async fn create_topic(namesrv: &str, name: &str, queues: u32) -> ferromq_client::TopicName {
    use ferromq_client::{AdminClient, ClusterName, TopicName, PERM_READ_WRITE};
    let topic = TopicName::new(name).unwrap();
    let admin = AdminClient::connect(namesrv).unwrap();
    let cluster = ClusterName::new("DefaultCluster").unwrap();
    wait_for(
        "the broker to register",
        Duration::from_secs(10),
        || async {
            admin
                .cluster_masters(&cluster)
                .await
                .ok()
                .filter(|m| !m.is_empty())
        },
    )
    .await;
    admin
        .create_topic(&cluster, &topic, queues, queues, PERM_READ_WRITE)
        .await
        .unwrap();
    wait_for_route(&admin, &topic, queues).await;
    topic
}

/// A producer for the cluster behind `namesrv`.
pub fn producer(namesrv: &str) -> ferromq_client::Producer {
    ferromq_client::Producer::builder()
        .namesrv_addr(namesrv)
        .group("test-producer")
        .build()
        .unwrap()
}

/// A pull consumer of `group` that starts from the first offset.
pub fn consumer(namesrv: &str, group: &str) -> ferromq_client::PullConsumer {
    ferromq_client::PullConsumer::builder()
        .namesrv_addr(namesrv)
        .group(group)
        .consume_from(ferromq_client::ConsumeFrom::FirstOffset)
        .build()
        .unwrap()
}

/// Polls `consumer` until `n` messages arrived or `timeout` passed.
pub async fn consume_n(
    consumer: &ferromq_client::PullConsumer,
    n: usize,
    timeout: Duration,
) -> Vec<ferromq_client::StoredMessage> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

/// Waits until the NameServer at `namesrv` lists the broker at `broker_addr`
/// as live (registration carries its topics, so routes are there too).
pub async fn wait_registered(namesrv: &str, broker_addr: &str) {
    let admin = ferromq_client::AdminClient::connect(namesrv).unwrap();
    wait_for(
        "the broker to register",
        Duration::from_secs(10),
        || async {
            let info = admin.cluster_info().await.ok()?;
            info.live
                .iter()
                .any(|b| b.addr == broker_addr)
                .then_some(())
        },
    )
    .await;
}

/// Encodes messages as a producer would (records with sealed CRCs), for
/// tests that talk to a broker without the producer.
pub fn encode_records(msgs: &[ferromq_client::Message]) -> bytes::Bytes {
    use ferromq_protocol::record::{self, BornInfo};
    let born = BornInfo {
        timestamp: 1,
        host: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        flags: 0,
        reconsume_times: 0,
    };
    let mut b = bytes::BytesMut::new();
    for m in msgs {
        record::encode(m, born, usize::MAX, &mut b).unwrap();
    }
    b.freeze()
}

/// Waits until the NameServers route `topic` with `queues` write queues.
pub async fn wait_for_route(
    admin: &ferromq_client::AdminClient,
    topic: &ferromq_client::TopicName,
    queues: u32,
) {
    wait_for("the topic route", Duration::from_secs(10), || async {
        admin
            .topic_route(topic)
            .await
            .ok()
            .filter(|r| r.queue_datas.iter().any(|q| q.write_queues == queues))
    })
    .await;
}

/// Sends `count` encoded records to queue 0 of `topic` over a raw
/// connection; returns the first record's queue offset.
pub async fn raw_send(
    conn: &ferromq_remoting::Connection,
    topic: &ferromq_client::TopicName,
    records: bytes::Bytes,
    count: u32,
) -> Result<u64, ferromq_remoting::RemotingError> {
    let req = ferromq_protocol::header::SendMessageRequest {
        producer_group: None,
        topic: topic.clone(),
        queue_id: ferromq_client::QueueId::new(0),
        count,
    };
    conn.call(&req, records, Duration::from_secs(5))
        .await
        .map(|r| r.header.queue_offset.get())
}

/// A master's view of its replication (`haStatus`), `None` while it
/// cannot answer.
pub async fn ha_status(broker: &str) -> Option<ferromq_protocol::header::HaStatusResponse> {
    let conn = ferromq_remoting::Connection::connect(broker, Duration::from_secs(1))
        .await
        .ok()?;
    conn.call(
        &ferromq_protocol::header::HaStatusRequest {},
        bytes::Bytes::new(),
        Duration::from_secs(2),
    )
    .await
    .ok()
    .map(|r| r.header)
}
