//! The broker's background loops. Each runs until shutdown begins; the
//! work of one round is a service call, the loop only decides when.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use crate::register::{self, Registration};
use crate::service::Broker;

/// Registers with every NameServer at start, every `register_interval`,
/// and soon after routes change.
pub(super) async fn register(b: Arc<Broker>, registration: Arc<Registration>) {
    let mut first = true;
    loop {
        if !first {
            super::roles::step_down_if_superseded(&b, false).await;
        }
        if let Some(id) = b.registered_id() {
            register::register_all(&registration, id, b.registered_topics(), first).await;
            first = false;
        }
        tokio::select! {
            _ = b.shutdown_token().cancelled() => return,
            _ = tokio::time::sleep(b.config().register_interval) => {}
            _ = b.routes_changed() => {}
        }
    }
}

/// Writes changed consumer and delay offsets every `offset_flush_interval`.
pub(super) async fn persist_offsets(b: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = b.shutdown_token().cancelled() => return,
            _ = tokio::time::sleep(b.config().offset_flush_interval) => {}
        }
        if let Err(e) = b.persist_consumer_offsets() {
            warn!(error = %e, "persisting consumer offsets failed; will retry");
        }
        if let Err(e) = b.persist_delay_offsets() {
            warn!(error = %e, "persisting delay offsets failed; will retry");
        }
    }
}

/// Removes consumer clients that went silent or whose connection closed,
/// every `client_scan_interval`.
pub(super) async fn scan_clients(b: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = b.shutdown_token().cancelled() => return,
            _ = tokio::time::sleep(b.config().client_scan_interval) => {}
        }
        b.scan_clients();
        b.sweep_replicas();
    }
}

/// Samples the put and get totals once a second, for the rates.
pub(super) async fn sample_stats(b: Arc<Broker>) {
    loop {
        b.sample_stats();
        tokio::select! {
            _ = b.shutdown_token().cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Moves due scheduled messages to their real topics: a pass, then sleep
/// until the next message is due or a new one is scheduled. A pass in
/// progress finishes before this returns.
pub(super) async fn deliver_scheduled(b: Arc<Broker>) {
    loop {
        if b.shutdown_token().is_cancelled() {
            return;
        }
        let wait = b.deliver_due().await;
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = b.shutdown_token().cancelled() => return,
            _ = b.scheduled() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// On a slave: takes the master's metadata (topics, groups, offsets,
/// delay progress) every half second.
pub(super) async fn follow_metadata(b: Arc<Broker>, ctx: crate::ha::slave::SlaveContext) {
    use ferromq_protocol::header::{HaMetadataRequest, MetadataSnapshot};
    let mut conn: Option<ferromq_remoting::Connection> = None;
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = tokio::time::sleep(METADATA_INTERVAL) => {}
        }
        let c = match &conn {
            Some(c) if !c.is_closed() => c.clone(),
            // A change of role need not wait for a master that does not
            // answer.
            _ => match tokio::select! {
                r = connect_master(&ctx) => r,
                () = ctx.shutdown.cancelled() => return,
            } {
                Ok(c) => {
                    conn = Some(c.clone());
                    c
                }
                Err(e) => {
                    tracing::debug!(error = %e, "master unreachable for metadata");
                    continue;
                }
            },
        };
        let mine = match b.unconfirmed_offsets().encode() {
            Ok(body) => body,
            Err(e) => {
                warn!(error = %e, "cannot encode offsets committed here");
                bytes::Bytes::new()
            }
        };
        let got = tokio::select! {
            r = c.call(&HaMetadataRequest {}, mine, Duration::from_secs(3)) => r,
            () = ctx.shutdown.cancelled() => return,
        };
        match got.map(|r| MetadataSnapshot::decode(&r.body)) {
            Ok(Ok(m)) => {
                let n = b.adopt_metadata(m);
                if n > 0 {
                    tracing::debug!(changed = n, "metadata taken over from the master");
                }
            }
            Ok(Err(e)) => warn!(error = %e, "undecodable metadata from the master"),
            Err(e) => tracing::debug!(error = %e, "metadata request failed"),
        }
    }
}

/// How often a slave takes its master's metadata.
const METADATA_INTERVAL: Duration = Duration::from_millis(500);

async fn connect_master(
    ctx: &crate::ha::slave::SlaveContext,
) -> Result<ferromq_remoting::Connection, String> {
    let addr = ctx.master_ha().await.map_err(|e| e.to_string())?;
    ferromq_remoting::Connection::connect(&addr, Duration::from_secs(3))
        .await
        .map_err(|e| e.to_string())
}
