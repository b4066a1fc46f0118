//! The HA port: a slave's handshake and fetches. Only these two codes are
//! served there; a refused slave gets the reason and a log line.

use ferromq_protocol::header::{
    HaFetch, HaHandshake, HaMetadataRequest, HaMetadataResponse, SlaveOffsets,
};
use ferromq_protocol::{RequestCode, ResponseCode};
use ferromq_remoting::{Request, Response};
use tracing::warn;

use super::decode;
use crate::ha::master::HaError;
use crate::service::Broker;

/// Answers one request on the HA port.
pub(crate) async fn dispatch(b: &Broker, req: Request) -> Response {
    let result = match RequestCode::from_u16(req.code) {
        Some(RequestCode::HaHandshake) => handshake(b, &req),
        Some(RequestCode::HaFetch) => fetch(b, &req).await,
        Some(RequestCode::HaMetadata) => metadata(b, &req),
        _ => Err(Response::error(
            ResponseCode::RequestCodeNotSupported,
            format!("request code {} is not served on the HA port", req.code),
        )),
    };
    result.unwrap_or_else(|e| e)
}

fn refused(peer: std::net::SocketAddr, e: &HaError) -> Response {
    warn!(%peer, error = %e, "replication request refused");
    let code = match e {
        HaError::Store(_) | HaError::Task(_) => ResponseCode::SystemError,
        HaError::NotMaster(_) => ResponseCode::ServiceNotAvailable,
        HaError::Mismatch(_) | HaError::Session(_) => ResponseCode::BadRequest,
    };
    Response::error(code, e.to_string())
}

/// `HaRoleChange` on the broker port: fence, promote or demote.
pub(super) async fn role_change(b: &Broker, req: &Request) -> Result<Response, Response> {
    let h: ferromq_protocol::header::HaRoleChangeRequest = decode(&req.header)?;
    if b.controller_mode() {
        return Err(Response::error(
            ResponseCode::NoPermission,
            "this broker is in controller mode: the controller decides its role \
             (mqadmin electMaster)",
        ));
    }
    let done = b.change_role(h, req.peer).await?;
    Ok(Response::ok(&done))
}

/// `GetBrokerHaStatus` on the broker port: the master's view of its slaves.
pub(super) fn status(b: &Broker, req: &Request) -> Result<Response, Response> {
    let _: ferromq_protocol::header::HaStatusRequest = decode(&req.header)?;
    Ok(Response::ok(&b.ha_status()))
}

fn metadata(b: &Broker, req: &Request) -> Result<Response, Response> {
    let _: HaMetadataRequest = decode(&req.header)?;
    b.serving_slaves().map_err(|e| refused(req.peer, &e))?;
    let offsets = SlaveOffsets::decode(&req.body).map_err(|e| {
        warn!(peer = %req.peer, error = %e, "undecodable slave offsets");
        Response::error(ResponseCode::BadRequest, format!("slave offsets: {e}"))
    })?;
    b.merge_slave_offsets(&req.peer.to_string(), &offsets);
    let body = b.metadata_snapshot().encode().map_err(|e| {
        Response::error(ResponseCode::SystemError, format!("encoding metadata: {e}"))
    })?;
    Ok(Response::ok(&HaMetadataResponse {}).with_body(body))
}

fn handshake(b: &Broker, req: &Request) -> Result<Response, Response> {
    let h: HaHandshake = decode(&req.header)?;
    let reply = b
        .ha_handshake(&h, req.conn.clone())
        .map_err(|e| refused(req.peer, &e))?;
    Ok(Response::ok(&reply))
}

async fn fetch(b: &Broker, req: &Request) -> Result<Response, Response> {
    let f: HaFetch = decode(&req.header)?;
    let (reply, body) = b.ha_fetch(&f).await.map_err(|e| refused(req.peer, &e))?;
    Ok(Response::ok(&reply).with_body(body))
}
