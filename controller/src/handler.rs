//! Thin request handlers: decode, call [`Controller`], encode. No input
//! panics; a bad request gets an error answer and a log line, and changes
//! nothing.

use bytes::Bytes;
use ferromq_protocol::header::{
    AlterSyncStateSet, BrokerHeartbeat, CleanBrokerDataRequest, ControllerRegisterBroker,
    ElectMasterRequest, Empty, GetBrokerEpochRequest, GetControllerMetadataRequest,
    GetSyncStateDataRequest,
};
use ferromq_protocol::{decode_header, RequestCode, ResponseCode};
use ferromq_remoting::{Handler, Request, Response};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::Snapshot;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::warn;

use crate::raft::network::SnapshotMessage;
use crate::raft::types::TypeConfig;
use crate::service::{Controller, Refusal};

/// Largest Raft message body accepted (a snapshot is the largest).
const MAX_RAFT_BODY: usize = 16 << 20;

/// Serves one controller node's port.
pub struct ControllerHandler(pub std::sync::Arc<Controller>);

impl Handler for ControllerHandler {
    async fn handle(&self, req: Request) -> Response {
        let c = &self.0;
        let Some(code) = RequestCode::from_u16(req.code) else {
            warn!(peer = %req.peer, code = req.code, "unknown request code on the controller port");
            return Response::error(
                ResponseCode::RequestCodeNotSupported,
                format!("the controller does not serve request code {}", req.code),
            );
        };
        let r = match code {
            RequestCode::ControllerRegisterBroker => match decode::<ControllerRegisterBroker>(&req)
            {
                Ok(h) => c.register(h).await.map(|r| Response::ok(&r)),
                Err(e) => Err(e),
            },
            RequestCode::BrokerHeartbeat => match decode::<BrokerHeartbeat>(&req) {
                Ok(h) => c.heartbeat(h).await.map(|r| Response::ok(&r)),
                Err(e) => Err(e),
            },
            RequestCode::ControllerAlterSyncStateSet => match decode::<AlterSyncStateSet>(&req) {
                Ok(h) => c.alter_sync_state_set(h).await.map(|r| Response::ok(&r)),
                Err(e) => Err(e),
            },
            RequestCode::ControllerElectMaster => match decode::<ElectMasterRequest>(&req) {
                Ok(h) => c
                    .elect_by_admin(&h.broker_name, h.replica_id)
                    .await
                    .map(|r| Response::ok(&r)),
                Err(e) => Err(e),
            },
            RequestCode::ControllerGetMetadataInfo => {
                decode::<GetControllerMetadataRequest>(&req).map(|_| Response::ok(&c.metadata()))
            }
            RequestCode::ControllerGetSyncStateData => {
                match decode::<GetSyncStateDataRequest>(&req) {
                    Ok(h) => c
                        .sync_state_data(&h.broker_name)
                        .await
                        .map(|r| Response::ok(&r)),
                    Err(e) => Err(e),
                }
            }
            RequestCode::GetBrokerEpochCache => match decode::<GetBrokerEpochRequest>(&req) {
                Ok(h) => c.epochs(&h.broker_name).await.map(|r| Response::ok(&r)),
                Err(e) => Err(e),
            },
            RequestCode::CleanBrokerData => match decode::<CleanBrokerDataRequest>(&req) {
                Ok(h) => c
                    .clean(&h.broker_name, h.replica_ids)
                    .await
                    .map(|()| Response::ok(&Empty {})),
                Err(e) => Err(e),
            },
            RequestCode::RaftVote => self.vote(&req).await,
            RequestCode::RaftAppendEntries => self.append(&req).await,
            RequestCode::RaftInstallSnapshot => self.snapshot(&req).await,
            other => Err(Refusal {
                code: ResponseCode::RequestCodeNotSupported,
                message: format!("the controller does not serve {other}"),
            }),
        };
        r.unwrap_or_else(|e| {
            if !matches!(
                e.code,
                ResponseCode::ControllerNotLeader | ResponseCode::RequestCodeNotSupported
            ) {
                warn!(peer = %req.peer, code = %e.code, error = %e.message, "controller request refused");
            }
            Response::error(e.code, e.message)
        })
    }
}

fn bad(message: String) -> Refusal {
    Refusal {
        code: ResponseCode::BadRequest,
        message,
    }
}

fn decode<T: DeserializeOwned>(req: &Request) -> Result<T, Refusal> {
    decode_header(&req.header).map_err(|e| bad(format!("malformed header: {e}")))
}

fn raft_body<T: DeserializeOwned>(req: &Request) -> Result<T, Refusal> {
    if req.body.len() > MAX_RAFT_BODY {
        return Err(bad(format!(
            "Raft message of {} bytes exceeds {MAX_RAFT_BODY}",
            req.body.len()
        )));
    }
    postcard::from_bytes(&req.body).map_err(|e| bad(format!("malformed Raft message: {e}")))
}

fn answer<T: Serialize>(v: &T) -> Result<Response, Refusal> {
    postcard::to_stdvec(v)
        .map(|b| Response::ok(&Empty {}).with_body(Bytes::from(b)))
        .map_err(|e| Refusal {
            code: ResponseCode::SystemError,
            message: format!("cannot encode the Raft answer: {e}"),
        })
}

impl ControllerHandler {
    /// Refuses a Raft message from a node outside the group.
    fn member(&self, claimed: u64) -> Result<(), Refusal> {
        let m = self.0.raft().metrics().borrow().membership_config.clone();
        if m.membership().get_node(&claimed).is_some() {
            Ok(())
        } else {
            Err(Refusal {
                code: ResponseCode::ControllerInvalidRequest,
                message: format!("node {claimed} is not a member of this controller group"),
            })
        }
    }

    async fn vote(&self, req: &Request) -> Result<Response, Refusal> {
        let v: VoteRequest<u64> = raft_body(req)?;
        self.member(v.vote.leader_id().voted_for().unwrap_or(u64::MAX))?;
        answer(&self.0.raft().vote(v).await)
    }

    async fn append(&self, req: &Request) -> Result<Response, Refusal> {
        let a: AppendEntriesRequest<TypeConfig> = raft_body(req)?;
        self.member(a.vote.leader_id().voted_for().unwrap_or(u64::MAX))?;
        answer(&self.0.raft().append_entries(a).await)
    }

    async fn snapshot(&self, req: &Request) -> Result<Response, Refusal> {
        let s: SnapshotMessage = raft_body(req)?;
        self.member(s.vote.leader_id().voted_for().unwrap_or(u64::MAX))?;
        let snap = Snapshot {
            meta: s.meta,
            snapshot: Box::new(s.data),
        };
        answer(&self.0.raft().install_full_snapshot(s.vote, snap).await)
    }
}
