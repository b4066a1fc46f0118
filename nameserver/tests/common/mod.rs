//! A NameServer on 127.0.0.1:0 in the test's runtime, and helpers.
#![allow(dead_code)] // each test file uses a different subset

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromq_nameserver::{NameServerConfig, NameServerError};
use ferromq_protocol::header::{
    GetAllTopicListRequest, RegisterBrokerBody, RegisterBrokerRequest, RegisterBrokerResponse,
    TopicConfig, TopicList, PERM_READ_WRITE,
};
use ferromq_protocol::{BrokerName, ClusterName, TopicName};
use ferromq_remoting::RemotingError;
use ferromq_remoting::{Connection, Reply};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous: the machine running the tests may be busy.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<Result<(), NameServerError>>>,
}

impl TestServer {
    pub async fn start(config: NameServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(ferromq_nameserver::run(config, listener, shutdown.clone()));
        Self {
            addr,
            shutdown,
            handle: Some(handle),
        }
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.addr, TIMEOUT).await.unwrap()
    }

    /// Cancels the token and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), NameServerError> {
        self.shutdown.cancel();
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(TIMEOUT, handle)
            .await
            .expect("run did not return after shutdown")
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `cond` until it holds, failing the test after `TIMEOUT`.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + TIMEOUT;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn topic(n: &str) -> TopicName {
    TopicName::new(n).unwrap()
}

/// A registration as a broker sends it: the header, and the topics that
/// go in the body.
pub struct Registration {
    pub header: RegisterBrokerRequest,
    pub body: RegisterBrokerBody,
}

impl Registration {
    /// Sends it on `conn`.
    pub async fn send(
        &self,
        conn: &Connection,
    ) -> Result<Reply<RegisterBrokerResponse>, RemotingError> {
        conn.call(&self.header, self.body.encode().unwrap(), TIMEOUT)
            .await
    }
}

pub fn register(broker: &str, id: u64, addr: &str, topics: &[&str]) -> Registration {
    Registration {
        header: RegisterBrokerRequest {
            cluster: ClusterName::new("DefaultCluster").unwrap(),
            broker_name: BrokerName::new(broker).unwrap(),
            broker_id: id,
            broker_addr: addr.to_string(),
            version: "test-1".into(),
            heartbeat_timeout_ms: None,
        },
        body: RegisterBrokerBody {
            topics: topics
                .iter()
                .map(|t| TopicConfig {
                    name: topic(t),
                    read_queues: 8,
                    write_queues: 8,
                    perm: PERM_READ_WRITE,
                })
                .collect(),
        },
    }
}

/// The NameServer's topic list, read from the reply's body.
pub async fn topic_list(conn: &Connection) -> Vec<TopicName> {
    let reply = conn
        .call(&GetAllTopicListRequest {}, Bytes::new(), TIMEOUT)
        .await
        .unwrap();
    TopicList::decode(&reply.body).unwrap().topics
}
