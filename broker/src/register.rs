//! Registration with every configured NameServer (the server's register
//! loop calls it at start, every `register_interval`, and soon after
//! routes change); unregistration at clean shutdown. NameServers are
//! contacted in parallel so one that is down does not delay the others.

use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::{
    RegisterBrokerBody, RegisterBrokerRequest, TopicConfig, UnregisterBrokerRequest,
};
use ferromq_protocol::{BrokerName, ClusterName, Rpc};
use ferromq_remoting::Connection;
use ferromq_remoting::RemotingError;
use futures::future::join_all;
use tracing::{debug, info, warn};

use crate::config::BrokerConfig;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Who this broker is to the NameServers, and where they are.
pub(crate) struct Registration {
    cluster: ClusterName,
    broker_name: BrokerName,
    broker_addr: String,
    heartbeat_timeout: Option<Duration>,
    namesrv_addrs: Vec<String>,
}

impl Registration {
    /// This broker, as configured and reached at `addr`.
    pub(crate) fn new(config: &BrokerConfig, addr: &str) -> Self {
        Self {
            cluster: config.cluster.clone(),
            broker_name: config.broker_name.clone(),
            broker_addr: addr.to_string(),
            heartbeat_timeout: config.heartbeat_timeout,
            namesrv_addrs: config.namesrv_addrs.clone(),
        }
    }
}

/// Registers with every NameServer as `broker_id` (a promotion or
/// demotion changes it), routing `topics`; failures are logged and retried
/// by the next call.
pub(crate) async fn register_all(
    r: &Registration,
    broker_id: u64,
    topics: Vec<TopicConfig>,
    log_success: bool,
) {
    let req = RegisterBrokerRequest {
        cluster: r.cluster.clone(),
        broker_name: r.broker_name.clone(),
        broker_id,
        broker_addr: r.broker_addr.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        heartbeat_timeout_ms: r.heartbeat_timeout.map(|d| d.as_millis() as u64),
    };
    // The topics go in the body: thousands of them do not fit in a header.
    let body = match (RegisterBrokerBody { topics }).encode() {
        Ok(body) => body,
        Err(e) => {
            warn!(error = %e, "cannot encode the topic list; not registering");
            return;
        }
    };
    for (ns, result) in call_all(r, &req, body).await {
        match result {
            Ok(_) if log_success => {
                info!(namesrv = %ns, broker = %r.broker_addr, "registered with NameServer")
            }
            Ok(_) => debug!(namesrv = %ns, "heartbeat sent"),
            Err(e) => warn!(namesrv = %ns, error = %e, "registration failed; will retry"),
        }
    }
}

/// Tells every NameServer this broker is leaving.
pub(crate) async fn unregister_all(r: &Registration, broker_id: u64) {
    let req = UnregisterBrokerRequest {
        cluster: r.cluster.clone(),
        broker_name: r.broker_name.clone(),
        broker_id,
        broker_addr: r.broker_addr.clone(),
    };
    for (ns, result) in call_all(r, &req, Bytes::new()).await {
        if let Err(e) = result {
            warn!(namesrv = %ns, error = %e, "unregistration failed");
        }
    }
}

/// Sends `req` with `body` to every NameServer at once; one result per
/// NameServer.
async fn call_all<'a, R: Rpc + Clone>(
    r: &'a Registration,
    req: &R,
    body: Bytes,
) -> Vec<(&'a String, Result<(), RemotingError>)> {
    let calls = r.namesrv_addrs.iter().map(|ns| {
        let req = req.clone();
        let body = body.clone();
        async move {
            let conn = Connection::connect(ns, CALL_TIMEOUT).await?;
            conn.call(&req, body, CALL_TIMEOUT).await.map(|_| ())
        }
    });
    r.namesrv_addrs.iter().zip(join_all(calls).await).collect()
}
