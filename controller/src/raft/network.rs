//! Raft messages between controllers over FerroMQ's own frames: one
//! request code per message kind, the library's request as the body
//! (postcard), its result (success or the remote Raft error) as the
//! answer's body. One connection per peer, dialled again after a failure.

use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::{
    RaftAppendEntriesRequest, RaftInstallSnapshotRequest, RaftVoteRequest,
};
use ferromq_protocol::{encode_header, ResponseCode, Rpc};
use ferromq_remoting::{Connection, RemotingError};
use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Snapshot, SnapshotMeta, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::TypeConfig;

/// How long dialling a peer may take.
const DIAL: Duration = Duration::from_millis(500);

/// Makes one [`PeerClient`] per peer.
#[derive(Clone, Default)]
pub struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            conn: None,
        }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    target: u64,
    addr: String,
    conn: Option<Connection>,
}

/// A snapshot as sent: the leader's vote, the metadata, the state.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct SnapshotMessage {
    pub(crate) vote: Vote<u64>,
    pub(crate) meta: SnapshotMeta<u64, BasicNode>,
    pub(crate) data: Vec<u8>,
}

/// Why a call failed before a Raft answer came back.
enum CallError {
    /// Not connected (dial failed): the peer may be down.
    Unreachable(RemotingError),
    /// Sent, but no good answer.
    Network(std::io::Error),
}

impl PeerClient {
    /// Sends one message and decodes the peer's result.
    async fn call<R: Rpc + Default, Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, CallError> {
        let conn = match &self.conn {
            Some(c) if !c.is_closed() => c.clone(),
            _ => {
                let c = Connection::connect(&self.addr, DIAL)
                    .await
                    .map_err(CallError::Unreachable)?;
                self.conn = Some(c.clone());
                c
            }
        };
        let net = |e: String| CallError::Network(std::io::Error::other(e));
        let body = postcard::to_stdvec(req).map_err(|e| net(e.to_string()))?;
        let header = encode_header(&R::default()).map_err(|e| net(e.to_string()))?;
        let frame = conn
            .request(R::CODE.as_u16(), header, Bytes::from(body), ttl)
            .await
            .map_err(|e| {
                if matches!(e, RemotingError::ConnectionClosed(_)) {
                    self.conn = None;
                }
                net(e.to_string())
            })?;
        if frame.code != ResponseCode::Success.as_u16() {
            let msg = ferromq_protocol::decode_header::<ferromq_protocol::header::ErrorHeader>(
                &frame.header,
            )
            .map(|h| h.message)
            .unwrap_or_default();
            return Err(net(format!(
                "controller {} answered code {}: {msg}",
                self.addr, frame.code
            )));
        }
        postcard::from_bytes(&frame.body).map_err(|e| net(format!("undecodable answer: {e}")))
    }
}

fn rpc_error<E: std::error::Error>(e: CallError) -> RPCError<u64, BasicNode, E> {
    match e {
        CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
        CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let r: Result<AppendEntriesResponse<u64>, RaftError<u64>> = self
            .call::<RaftAppendEntriesRequest, _, _>(&rpc, option.hard_ttl())
            .await
            .map_err(rpc_error)?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let r: Result<VoteResponse<u64>, RaftError<u64>> = self
            .call::<RaftVoteRequest, _, _>(&rpc, option.hard_ttl())
            .await
            .map_err(rpc_error)?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<u64>,
        snapshot: Snapshot<TypeConfig>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<TypeConfig, Fatal<u64>>> {
        let msg = SnapshotMessage {
            vote,
            meta: snapshot.meta,
            data: *snapshot.snapshot,
        };
        let r: Result<SnapshotResponse<u64>, Fatal<u64>> = self
            .call::<RaftInstallSnapshotRequest, _, _>(&msg, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(e) => StreamingError::Unreachable(Unreachable::new(&e)),
                CallError::Network(e) => StreamingError::Network(NetworkError::new(&e)),
            })?;
        r.map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e)))
    }
}
