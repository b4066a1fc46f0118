//! Headers of requests served by NameServers.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{decode_body, encode_body, DeleteTopicRequest, Empty, Rpc, TopicConfig};
use crate::code::RequestCode;
use crate::error::HeaderError;
use crate::names::{BrokerName, ClusterName, TopicName};

/// Broker id of a master.
pub const MASTER_ID: u64 = 0;

/// A broker announces itself and its topics. Sent on start and then on every
/// heartbeat period. The topics travel in the body, as a
/// [`RegisterBrokerBody`]: a broker with thousands of topics would not fit
/// in a header ([`crate::MAX_HEADER_LEN`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerRequest {
    /// Cluster the broker belongs to.
    pub cluster: ClusterName,
    /// Broker name (shared by master and slaves).
    pub broker_name: BrokerName,
    /// 0 for the master.
    pub broker_id: u64,
    /// Address clients connect to (`host:port`).
    pub broker_addr: String,
    /// Software version, shown by `clusterList`.
    pub version: String,
    /// How long the NameServer should wait before expiring the broker, ms;
    /// `None` uses the NameServer's default.
    pub heartbeat_timeout_ms: Option<u64>,
}

/// Body of a [`RegisterBrokerRequest`], postcard-encoded: every topic on the
/// broker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerBody {
    /// Every topic on the broker.
    pub topics: Vec<TopicConfig>,
}

impl RegisterBrokerBody {
    /// The request body.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] if postcard cannot encode it.
    pub fn encode(&self) -> Result<Bytes, HeaderError> {
        encode_body(self)
    }

    /// Reads a request body. Topic names are validated as in headers;
    /// trailing bytes are an error.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] if the bytes are not a body.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        decode_body(b)
    }
}

/// Reply to a registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerResponse {
    /// Address of the master of the same broker name, if known.
    pub master_addr: Option<String>,
}

impl Rpc for RegisterBrokerRequest {
    const CODE: RequestCode = RequestCode::RegisterBroker;
    type Response = RegisterBrokerResponse;
}

/// A broker leaves (clean shutdown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterBrokerRequest {
    /// Cluster.
    pub cluster: ClusterName,
    /// Broker name.
    pub broker_name: BrokerName,
    /// Broker id.
    pub broker_id: u64,
    /// Broker address.
    pub broker_addr: String,
}

impl Rpc for UnregisterBrokerRequest {
    const CODE: RequestCode = RequestCode::UnregisterBroker;
    type Response = Empty;
}

/// Route of a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRouteInfoRequest {
    /// Topic.
    pub topic: TopicName,
}

/// A topic's queues on one broker name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueData {
    /// Broker name.
    pub broker_name: BrokerName,
    /// Read queues.
    pub read_queues: u32,
    /// Write queues.
    pub write_queues: u32,
    /// Permission bits.
    pub perm: u8,
}

/// A broker name's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerData {
    /// Cluster.
    pub cluster: ClusterName,
    /// Broker name.
    pub broker_name: BrokerName,
    /// Broker id → address; id 0 is the master.
    pub addrs: BTreeMap<u64, String>,
}

impl BrokerData {
    /// The master's address, if the master is alive.
    pub fn master_addr(&self) -> Option<&str> {
        self.addrs.get(&MASTER_ID).map(String::as_str)
    }
}

/// Where a topic lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRouteData {
    /// Queues per broker name.
    pub queue_datas: Vec<QueueData>,
    /// Addresses of those broker names.
    pub broker_datas: Vec<BrokerData>,
}

impl Rpc for GetRouteInfoRequest {
    const CODE: RequestCode = RequestCode::GetRouteInfoByTopic;
    type Response = TopicRouteData;
}

/// Everything a NameServer knows about clusters and brokers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetClusterInfoRequest {}

/// A live broker as seen by a NameServer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveBroker {
    /// Address.
    pub addr: String,
    /// Broker name.
    pub broker_name: BrokerName,
    /// Broker id.
    pub broker_id: u64,
    /// Version the broker reported.
    pub version: String,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ago_ms: u64,
    /// Milliseconds since it first registered.
    pub registered_ago_ms: u64,
}

/// Reply to [`GetClusterInfoRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Broker name → addresses.
    pub brokers: BTreeMap<BrokerName, BrokerData>,
    /// Cluster → broker names.
    pub clusters: BTreeMap<ClusterName, BTreeSet<BrokerName>>,
    /// Live brokers.
    pub live: Vec<LiveBroker>,
}

impl Rpc for GetClusterInfoRequest {
    const CODE: RequestCode = RequestCode::GetBrokerClusterInfo;
    type Response = ClusterInfo;
}

/// Every topic a NameServer knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAllTopicListRequest {}

/// Body of the reply to [`GetAllTopicListRequest`], postcard-encoded (the
/// reply's header is [`Empty`]): a NameServer may know more topics than a
/// header holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicList {
    /// Topics, sorted.
    pub topics: Vec<TopicName>,
}

impl TopicList {
    /// The response body.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] if postcard cannot encode it.
    pub fn encode(&self) -> Result<Bytes, HeaderError> {
        encode_body(self)
    }

    /// Reads a response body. Topic names are validated; trailing bytes are
    /// an error.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] if the bytes are not a topic list.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        decode_body(b)
    }
}

impl Rpc for GetAllTopicListRequest {
    const CODE: RequestCode = RequestCode::GetAllTopicList;
    type Response = Empty;
}

/// Delete a topic from a NameServer's route table. Same fields as
/// [`DeleteTopicRequest`], different code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTopicInNamesrvRequest {
    /// Topic.
    pub topic: TopicName,
}

impl From<DeleteTopicRequest> for DeleteTopicInNamesrvRequest {
    fn from(r: DeleteTopicRequest) -> Self {
        Self { topic: r.topic }
    }
}

impl Rpc for DeleteTopicInNamesrvRequest {
    const CODE: RequestCode = RequestCode::DeleteTopicInNamesrv;
    type Response = Empty;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{decode_header, encode_header};

    #[test]
    fn route_round_trips() {
        let r = TopicRouteData {
            queue_datas: vec![QueueData {
                broker_name: BrokerName::new("broker-a").unwrap(),
                read_queues: 4,
                write_queues: 4,
                perm: 6,
            }],
            broker_datas: vec![BrokerData {
                cluster: ClusterName::new("DefaultCluster").unwrap(),
                broker_name: BrokerName::new("broker-a").unwrap(),
                addrs: [(0, "127.0.0.1:10911".to_string())].into(),
            }],
        };
        let b = encode_header(&r).unwrap();
        assert_eq!(decode_header::<TopicRouteData>(&b).unwrap(), r);
    }

    fn many_topics(n: usize) -> Vec<TopicConfig> {
        (0..n)
            .map(|i| TopicConfig {
                name: TopicName::new(format!("a-rather-long-topic-name-for-testing-{i:06}"))
                    .unwrap(),
                read_queues: 8,
                write_queues: 8,
                perm: 6,
            })
            .collect()
    }

    #[test]
    fn bodies_hold_what_a_header_cannot() {
        let body = RegisterBrokerBody {
            topics: many_topics(5_000),
        };
        assert!(
            matches!(encode_header(&body), Err(HeaderError::TooLarge { .. })),
            "the list must not fit a header, or this test proves nothing"
        );
        let b = body.encode().unwrap();
        assert!(b.len() > crate::MAX_HEADER_LEN);
        assert_eq!(RegisterBrokerBody::decode(&b).unwrap(), body);

        let list = TopicList {
            topics: body.topics.iter().map(|t| t.name.clone()).collect(),
        };
        let b = list.encode().unwrap();
        assert!(b.len() > crate::MAX_HEADER_LEN);
        assert_eq!(TopicList::decode(&b).unwrap(), list);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let good = RegisterBrokerBody {
            topics: many_topics(2),
        }
        .encode()
        .unwrap();
        assert!(RegisterBrokerBody::decode(&[]).is_err(), "empty");
        assert!(RegisterBrokerBody::decode(&[0xFF; 16]).is_err(), "garbage");
        assert!(
            RegisterBrokerBody::decode(&good[..good.len() - 1]).is_err(),
            "truncated"
        );
        let mut trailing = good.to_vec();
        trailing.push(0);
        assert!(RegisterBrokerBody::decode(&trailing).is_err(), "trailing");
        // A count far beyond the bytes present fails without allocating it.
        assert!(RegisterBrokerBody::decode(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).is_err());

        #[derive(Serialize)]
        struct RawList {
            topics: Vec<String>,
        }
        let bad_name = postcard::to_stdvec(&RawList {
            topics: vec!["ok".into(), "../etc".into()],
        })
        .unwrap();
        assert!(TopicList::decode(&bad_name).is_err(), "names are validated");
        assert_eq!(
            TopicList::decode(&TopicList::default().encode().unwrap()).unwrap(),
            TopicList::default()
        );
    }
}
