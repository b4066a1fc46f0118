//! Registration with every configured NameServer: at start, every
//! `register_interval`, and soon after a topic changes; unregistration at
//! clean shutdown. NameServers are contacted in parallel so one that is down
//! does not delay the others.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::header::{
    RegisterBrokerBody, RegisterBrokerRequest, UnregisterBrokerRequest,
};
use ferromq_protocol::header::{
    TopicConfig, AUTO_CREATE_QUEUES, AUTO_CREATE_TOPIC, PERM_READ_WRITE,
};
use ferromq_protocol::{Rpc, TopicName};
use ferromq_remoting::Connection;
use ferromq_remoting::RemotingError;
use futures::future::join_all;
use tracing::{debug, info, warn};

use crate::broker::Broker;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs until the broker shuts down.
pub(crate) async fn register_loop(b: Arc<Broker>) {
    let mut first = true;
    loop {
        register_all(&b, first).await;
        first = false;
        tokio::select! {
            _ = b.shutdown_token().cancelled() => return,
            _ = tokio::time::sleep(b.config().register_interval) => {}
            _ = b.register_notified() => {}
        }
    }
}

async fn register_all(b: &Broker, log_success: bool) {
    let req = RegisterBrokerRequest {
        cluster: b.config().cluster.clone(),
        broker_name: b.config().broker_name.clone(),
        broker_id: b.config().broker_id,
        broker_addr: b.addr().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        heartbeat_timeout_ms: b.config().heartbeat_timeout.map(|d| d.as_millis() as u64),
    };
    // The topics go in the body: thousands of them do not fit in a header.
    let body = RegisterBrokerBody {
        topics: registered_topics(b),
    };
    let body = match body.encode() {
        Ok(body) => body,
        Err(e) => {
            warn!(error = %e, "cannot encode the topic list; not registering");
            return;
        }
    };
    for (ns, r) in call_all(b, &req, body).await {
        match r {
            Ok(_) if log_success => {
                info!(namesrv = %ns, broker = %b.addr(), "registered with NameServer")
            }
            Ok(_) => debug!(namesrv = %ns, "heartbeat sent"),
            Err(e) => warn!(namesrv = %ns, error = %e, "registration failed; will retry"),
        }
    }
}

/// Tells every NameServer this broker is leaving.
pub(crate) async fn unregister_all(b: &Broker) {
    let req = UnregisterBrokerRequest {
        cluster: b.config().cluster.clone(),
        broker_name: b.config().broker_name.clone(),
        broker_id: b.config().broker_id,
        broker_addr: b.addr().to_string(),
    };
    for (ns, r) in call_all(b, &req, Bytes::new()).await {
        if let Err(e) = r {
            warn!(namesrv = %ns, error = %e, "unregistration failed");
        }
    }
}

/// Sends `req` with `body` to every NameServer at once; one result per
/// NameServer.
async fn call_all<'a, R: Rpc + Clone>(
    b: &'a Broker,
    req: &R,
    body: Bytes,
) -> Vec<(&'a String, Result<(), RemotingError>)> {
    let calls = b.config().namesrv_addrs.iter().map(|ns| {
        let req = req.clone();
        let body = body.clone();
        async move {
            let conn = Connection::connect(ns, CALL_TIMEOUT).await?;
            conn.call(&req, body, CALL_TIMEOUT).await.map(|_| ())
        }
    });
    b.config()
        .namesrv_addrs
        .iter()
        .zip(join_all(calls).await)
        .collect()
}

/// The topics as NameServers should route them: with the broker's own
/// permission applied (a wiped broker is not writable for any topic), plus
/// `TBW102` when the broker creates topics on first send.
fn registered_topics(b: &Broker) -> Vec<TopicConfig> {
    let perm = b.state().perm();
    let mut topics: Vec<TopicConfig> = b
        .topics()
        .all()
        .into_iter()
        .map(|mut t| {
            t.perm &= perm;
            t
        })
        .collect();
    if b.config().auto_create_topic {
        if let Ok(name) = TopicName::new(AUTO_CREATE_TOPIC) {
            topics.push(TopicConfig {
                name,
                read_queues: AUTO_CREATE_QUEUES,
                write_queues: AUTO_CREATE_QUEUES,
                perm: PERM_READ_WRITE & perm,
            });
        }
    }
    topics
}
