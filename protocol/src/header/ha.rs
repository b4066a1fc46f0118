//! Replication between the brokers of one group (HA port, default the
//! broker port + 1).
//!
//! A slave pulls the master's commit log, as a Kafka follower fetches:
//!
//! 1. [`HaHandshake`]: the slave names itself and sends its epoch history
//!    and log end. The master answers with the offset where their
//!    histories agree ([`HaHandshakeResponse::agreed_end`]); the slave
//!    truncates past it (commit log, consume queues, index) before it
//!    fetches, and starts at the master's oldest retained offset when its
//!    own store is empty or behind it.
//! 2. [`HaFetch`], repeated: "my log ends at `offset`, my flush covers
//!    `flushed`; send what follows". The answer's body is the master's
//!    commit-log bytes from `offset`, whole records (and end-of-segment
//!    markers) exactly as on the master's disk, at most `max_bytes`. A
//!    fetch at the master's end is held up to `hold_ms` until bytes
//!    arrive, so a slave is woken by new data, not by a timer. The next
//!    fetch's `flushed` is the slave's acknowledgement: sync replication
//!    acknowledges a send once enough in-sync replicas' `flushed` cover it.
//!
//! Fetches carry the session id of their handshake, so a fetch of a slave
//! that reconnected (or of a second connection claiming the same broker
//! id) is refused instead of interleaving with the new session.

use serde::{Deserialize, Serialize};

use bytes::Bytes;

use super::{Rpc, SubscriptionGroupConfig, TopicConfig};
use crate::code::RequestCode;
use crate::error::HeaderError;
use crate::names::{BrokerName, ClusterName, GroupName, TopicName};
use crate::{QueueId, QueueOffset};

/// One entry of a broker's epoch history: from `start_offset` on, the log
/// was written by the master of `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochStart {
    /// The epoch: raised by one at every change of master.
    pub epoch: u32,
    /// The commit-log offset of the epoch's first byte.
    pub start_offset: u64,
}

/// Slave to master: who I am and how far my log goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaHandshake {
    /// The slave's cluster; must be the master's.
    pub cluster: ClusterName,
    /// The slave's broker name; must be the master's.
    pub broker_name: BrokerName,
    /// The slave's broker id (1 or more).
    pub broker_id: u64,
    /// The address clients use for the slave (for `haStatus`).
    pub addr: String,
    /// The slave's commit-log segment size; must be the master's, since
    /// the log is copied byte for byte, segment boundaries included.
    pub segment_size: u64,
    /// One past the slave's last commit-log byte.
    pub log_end: u64,
    /// The slave's epoch history, oldest first.
    pub epochs: Vec<EpochStart>,
}

/// Master to slave: where to continue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaHandshakeResponse {
    /// Identifies this replication session in every fetch.
    pub session: u64,
    /// The master's epoch.
    pub master_epoch: u32,
    /// The last offset at which the slave's log and the master's agree;
    /// the slave truncates everything at or past it before fetching.
    pub agreed_end: u64,
    /// The master's oldest retained commit-log offset: a slave whose log
    /// (after truncation) ends before it starts afresh from it.
    pub master_min_offset: u64,
    /// The master's epoch history, which the slave adopts as its own.
    pub epochs: Vec<EpochStart>,
}

impl Rpc for HaHandshake {
    const CODE: RequestCode = RequestCode::HaHandshake;
    type Response = HaHandshakeResponse;
}

/// Slave to master: send the log from `offset` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaFetch {
    /// The session of the handshake on this connection.
    pub session: u64,
    /// One past the slave's last commit-log byte: where the answer starts.
    pub offset: u64,
    /// How far the slave's own flush covers its log: its acknowledgement.
    pub flushed: u64,
    /// Most bytes of log in the answer.
    pub max_bytes: u32,
    /// How long the master may hold a fetch at its log end.
    pub hold_ms: u32,
}

/// Master to slave: the log bytes from the fetch's offset are the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaFetchResponse {
    /// Where the body starts (the fetch's offset).
    pub offset: u64,
    /// One past the master's last byte that a slave may have (its flushed
    /// end): how far behind the slave is.
    pub master_end: u64,
    /// The master's epoch; a change tells the slave to handshake again.
    pub master_epoch: u32,
}

impl Rpc for HaFetch {
    const CODE: RequestCode = RequestCode::HaFetch;
    type Response = HaFetchResponse;
}

/// Slave to master (HA port): the master's metadata, which the slave
/// adopts: topics, subscription groups, consumer offsets, delay progress.
/// The body, if any, is [`SlaveOffsets`]: offsets consumers committed on
/// the slave (while the master was unreachable) that the master takes
/// where they are ahead of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaMetadataRequest {}

/// The answer's header; the snapshot is the body ([`MetadataSnapshot`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaMetadataResponse {}

impl Rpc for HaMetadataRequest {
    const CODE: RequestCode = RequestCode::HaMetadata;
    type Response = HaMetadataResponse;
}

/// One committed consumer offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffset {
    /// The consumer group.
    pub group: GroupName,
    /// The topic.
    pub topic: TopicName,
    /// The queue.
    pub queue_id: QueueId,
    /// The committed offset.
    pub offset: QueueOffset,
}

/// A master's metadata as a slave takes it over. Travels as a postcard
/// body: it grows with topics and groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataSnapshot {
    /// Every topic's configuration.
    pub topics: Vec<TopicConfig>,
    /// Every subscription group's settings.
    pub groups: Vec<SubscriptionGroupConfig>,
    /// Every committed consumer offset.
    pub offsets: Vec<GroupOffset>,
    /// Delivery progress of scheduled messages: (delay level, next offset).
    pub delay_offsets: Vec<(u32, u64)>,
}

impl MetadataSnapshot {
    /// Encodes the body.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] if postcard cannot encode it.
    pub fn encode(&self) -> Result<Bytes, HeaderError> {
        super::encode_body(self)
    }

    /// Decodes a body (names are validated on the way).
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] for bytes that are not a snapshot.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        super::decode_body(b)
    }
}

/// Offsets committed on a slave that its master has not confirmed yet;
/// the body of [`HaMetadataRequest`] (an empty body: none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaveOffsets {
    /// Each group's position as committed on the slave.
    pub offsets: Vec<GroupOffset>,
}

impl SlaveOffsets {
    /// Encodes the body; nothing to report is an empty body.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] if postcard cannot encode it.
    pub fn encode(&self) -> Result<Bytes, HeaderError> {
        if self.offsets.is_empty() {
            return Ok(Bytes::new());
        }
        super::encode_body(self)
    }

    /// Decodes a body; an empty one holds no offsets.
    ///
    /// # Errors
    /// [`HeaderError::Malformed`] for bytes that are not a list of offsets.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        if b.is_empty() {
            return Ok(Self::default());
        }
        super::decode_body(b)
    }
}

/// Admin to master: the master's view of its slaves (`mqadmin haStatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStatusRequest {}

/// One slave as its master sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaveStatus {
    /// The slave's broker id.
    pub broker_id: u64,
    /// The slave's client address.
    pub addr: String,
    /// How far the slave's log goes.
    pub offset: u64,
    /// How far the slave's flush covers it.
    pub flushed: u64,
    /// Bytes the slave is behind the master's end.
    pub lag_bytes: u64,
    /// Milliseconds since the slave last fetched.
    pub silent_ms: u64,
    /// How old, in milliseconds, the oldest byte is that the slave's
    /// flush does not cover yet (0 when it has everything): the time a
    /// master crash could take back under async replication.
    pub lag_ms: u64,
    /// Log bytes sent to the slave in its current session: a slave that
    /// resumes copies only what it lacks.
    pub bytes_sent: u64,
    /// Whether the slave counts towards sync replication.
    pub in_sync: bool,
}

/// The master's replication state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStatusResponse {
    /// The broker's epoch.
    pub epoch: u32,
    /// One past the master's last commit-log byte.
    pub log_end: u64,
    /// `--min-in-sync-replicas`, counting the master.
    pub min_in_sync_replicas: u32,
    /// Each connected slave.
    pub slaves: Vec<SlaveStatus>,
}

impl Rpc for HaStatusRequest {
    const CODE: RequestCode = RequestCode::GetBrokerHaStatus;
    type Response = HaStatusResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{decode_header, encode_header};

    #[test]
    fn handshake_round_trips_and_refuses_a_bad_name() {
        let h = HaHandshake {
            cluster: ClusterName::new("DefaultCluster").unwrap(),
            broker_name: BrokerName::new("broker-a").unwrap(),
            broker_id: 1,
            addr: "10.0.0.2:10911".into(),
            segment_size: 1 << 30,
            log_end: 4096,
            epochs: vec![
                EpochStart {
                    epoch: 1,
                    start_offset: 0,
                },
                EpochStart {
                    epoch: 2,
                    start_offset: 2048,
                },
            ],
        };
        let b = encode_header(&h).unwrap();
        assert_eq!(decode_header::<HaHandshake>(&b).unwrap(), h);

        #[derive(Serialize)]
        struct Raw<'a> {
            cluster: &'a str,
            broker_name: &'a str,
        }
        let bad = encode_header(&Raw {
            cluster: "DefaultCluster",
            broker_name: "../a",
        })
        .unwrap();
        assert!(decode_header::<HaHandshake>(&bad).is_err());
    }

    #[test]
    fn fetch_round_trips() {
        let f = HaFetch {
            session: 7,
            offset: 1 << 40,
            flushed: 1 << 39,
            max_bytes: 1 << 20,
            hold_ms: 1000,
        };
        assert_eq!(
            decode_header::<HaFetch>(&encode_header(&f).unwrap()).unwrap(),
            f
        );
    }
}

/// What an operator asks of a broker's role (`mqadmin promoteSlave`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleAction {
    /// A master stops taking sends (its slaves go on copying its log), so
    /// a slave can catch up before it takes over.
    Fence,
    /// A fenced master takes sends again (a hand-over that was called off).
    Unfence,
    /// A slave becomes its group's master (broker id 0) in a new epoch
    /// that starts at its log end.
    Promote,
    /// A master becomes a slave with `broker_id`, copying from
    /// `master_ha`; it truncates what its new master does not have.
    Demote,
}

/// Admin to broker (broker port): change its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaRoleChangeRequest {
    /// What to do.
    pub action: RoleAction,
    /// [`RoleAction::Demote`]: the broker id to take (1 or more).
    #[serde(default)]
    pub broker_id: u64,
    /// [`RoleAction::Demote`]: the new master's HA address; `None`: asked
    /// of the NameServers.
    #[serde(default)]
    pub master_ha: Option<String>,
    /// [`RoleAction::Promote`]: the new epoch is above this and above
    /// every epoch the broker has seen.
    #[serde(default)]
    pub min_epoch: u32,
}

/// The broker's role after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaRoleChangeResponse {
    /// `master` or `slave`.
    pub role: String,
    /// Its broker id now.
    pub broker_id: u64,
    /// Its current epoch.
    pub epoch: u32,
    /// One past its last commit-log byte.
    pub log_end: u64,
    /// Whether it is fenced.
    pub fenced: bool,
}

impl Rpc for HaRoleChangeRequest {
    const CODE: RequestCode = RequestCode::HaRoleChange;
    type Response = HaRoleChangeResponse;
}
