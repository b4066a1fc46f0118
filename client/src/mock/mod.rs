//! A mock cluster for the client's own tests: one NameServer and some
//! brokers, in memory, served by the real server loop on port 0. The real
//! broker and NameServer are tested end to end in `/tests`; this only lets
//! the client's retry, polling and admin paths run against something.

mod broker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use broker::MockBroker;
use ferromq_protocol::header::*;
use ferromq_protocol::*;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ClientConfig, MqClient};
use ferromq_remoting::{serve, Handler, Request, Response, ServerOptions};

pub(crate) const CLUSTER: &str = "DefaultCluster";

pub(crate) struct MockNamesrv {
    brokers: Vec<Arc<MockBroker>>,
    /// Whether each broker is in the route table (a stopped broker stays
    /// listed until the NameServer would expire it).
    listed: Mutex<Vec<bool>>,
    pub(crate) route_calls: AtomicUsize,
}

impl MockNamesrv {
    fn listed(&self) -> Vec<Arc<MockBroker>> {
        let listed = self.listed.lock().clone();
        self.brokers
            .iter()
            .zip(listed)
            .filter(|(_, l)| *l)
            .map(|(b, _)| b.clone())
            .collect()
    }

    fn broker_data(b: &MockBroker) -> BrokerData {
        BrokerData {
            cluster: ClusterName::new(CLUSTER).unwrap(),
            broker_name: b.name.clone(),
            addrs: [(MASTER_ID, b.addr.lock().clone())].into(),
        }
    }

    fn handle(&self, req: &Request) -> Response {
        match RequestCode::from_u16(req.code) {
            Some(RequestCode::GetRouteInfoByTopic) => {
                self.route_calls.fetch_add(1, Ordering::SeqCst);
                let h: GetRouteInfoRequest = decode_header(&req.header).unwrap();
                let mut data = TopicRouteData {
                    queue_datas: vec![],
                    broker_datas: vec![],
                };
                for b in self.listed() {
                    if let Some(c) = b.topics().into_iter().find(|c| c.name == h.topic) {
                        data.queue_datas.push(QueueData {
                            broker_name: b.name.clone(),
                            read_queues: c.read_queues,
                            write_queues: c.write_queues,
                            perm: c.perm,
                        });
                        data.broker_datas.push(Self::broker_data(&b));
                    }
                }
                if data.queue_datas.is_empty() {
                    return Response::error(ResponseCode::TopicNotExist, "no route");
                }
                Response::ok(&data)
            }
            Some(RequestCode::GetBrokerClusterInfo) => {
                let listed = self.listed();
                let info = ClusterInfo {
                    brokers: listed
                        .iter()
                        .map(|b| (b.name.clone(), Self::broker_data(b)))
                        .collect::<BTreeMap<_, _>>(),
                    clusters: [(
                        ClusterName::new(CLUSTER).unwrap(),
                        listed
                            .iter()
                            .map(|b| b.name.clone())
                            .collect::<BTreeSet<_>>(),
                    )]
                    .into(),
                    live: vec![],
                };
                Response::ok(&info)
            }
            Some(RequestCode::GetAllTopicList) => {
                let topics: BTreeSet<TopicName> = self
                    .listed()
                    .iter()
                    .flat_map(|b| b.topics().into_iter().map(|c| c.name))
                    .collect();
                let list = TopicList {
                    topics: topics.into_iter().collect(),
                };
                Response::ok(&Empty {}).with_body(list.encode().unwrap())
            }
            Some(RequestCode::DeleteTopicInNamesrv) => Response::ok(&Empty {}),
            _ => Response::error(ResponseCode::RequestCodeNotSupported, "?"),
        }
    }
}

enum Node {
    Namesrv(Arc<MockNamesrv>),
    Broker(Arc<MockBroker>),
}

impl Handler for Node {
    async fn handle(&self, req: Request) -> Response {
        match self {
            Node::Namesrv(n) => n.handle(&req),
            Node::Broker(b) => b.handle(req).await,
        }
    }
}

pub(crate) struct MockCluster {
    pub(crate) namesrv_addr: String,
    pub(crate) namesrv: Arc<MockNamesrv>,
    pub(crate) brokers: Vec<Arc<MockBroker>>,
    broker_tokens: Vec<CancellationToken>,
    token: CancellationToken,
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn start(node: Node, token: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let opts = ServerOptions {
        shutdown_grace: Duration::from_millis(50),
        ..ServerOptions::default()
    };
    tokio::spawn(serve(listener, Arc::new(node), token, opts));
    addr
}

impl MockCluster {
    pub(crate) async fn start(broker_names: &[&str]) -> Self {
        let token = CancellationToken::new();
        let mut brokers = Vec::new();
        let mut broker_tokens = Vec::new();
        for name in broker_names {
            let b = Arc::new(MockBroker::new(name));
            let t = token.child_token();
            *b.addr.lock() = start(Node::Broker(b.clone()), t.clone()).await;
            brokers.push(b);
            broker_tokens.push(t);
        }
        let namesrv = Arc::new(MockNamesrv {
            brokers: brokers.clone(),
            listed: Mutex::new(vec![true; brokers.len()]),
            route_calls: AtomicUsize::new(0),
        });
        let namesrv_addr = start(Node::Namesrv(namesrv.clone()), token.child_token()).await;
        Self {
            namesrv_addr,
            namesrv,
            brokers,
            broker_tokens,
            token,
        }
    }

    /// A client with short timeouts, so failure paths run fast.
    pub(crate) fn client(&self) -> MqClient {
        MqClient::new(
            ClientConfig::builder()
                .namesrv_addr(&self.namesrv_addr)
                .request_timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .route_refresh_interval(Duration::from_millis(200))
                .build()
                .unwrap(),
        )
    }

    pub(crate) fn create_topic(&self, topic: &str, queues: u32) {
        for b in &self.brokers {
            b.create_topic(topic, queues);
        }
    }

    /// Stops broker `i` (it stays in the NameServer's routes).
    pub(crate) fn kill(&self, i: usize) {
        self.broker_tokens[i].cancel();
    }

    /// Removes broker `i` from the NameServer's routes.
    pub(crate) fn unlist(&self, i: usize) {
        self.namesrv.listed.lock()[i] = false;
    }
}
