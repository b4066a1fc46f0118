//! FerroMQ's NameServer: the route table of a cluster.
//!
//! Brokers register with every NameServer on start and then on every
//! heartbeat, listing their topics; clients ask any NameServer where a topic
//! lives. NameServers keep everything in memory, do not talk to each other,
//! and forget a broker that stops heartbeating. Semantics follow RocketMQ's
//! `RouteInfoManager`; `docs/NAMESERVER.md` lists them and our decisions.
//!
//! Data flow: the shared server loop ([`ferromq_remoting::serve`])
//! hands each request to the handler (`handler.rs`), which decodes the
//! header (and a registration's body, its topic list) and calls
//! [`NameServer`] (`service.rs`), which takes the one lock
//! over the tables (`table/`, pure, clock passed in) for a short update or
//! read. `expiry.rs` runs the scan for silent brokers.

mod config;
mod error;
mod expiry;
mod handler;
mod service;
mod table;

use std::sync::Arc;

use ferromq_remoting::{serve, ServerOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{NameServerConfig, MAX_SCAN_INTERVAL};
pub use error::NameServerError;
pub use service::NameServer;

/// Serves a new, empty NameServer on `listener` until `shutdown` is
/// cancelled. The caller binds the listener (port 0 in tests).
///
/// # Errors
/// [`NameServerError::InvalidConfig`] if `config` fails
/// [`NameServerConfig::validate`]; nothing is served then.
pub async fn run(
    config: NameServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), NameServerError> {
    Arc::new(NameServer::new(config))
        .serve(listener, shutdown)
        .await
}

impl NameServer {
    /// Serves this NameServer on `listener`, with its expiry scan, until
    /// `shutdown` is cancelled; in-flight requests finish first. Use this
    /// instead of [`run`] to keep a handle on the tables.
    ///
    /// # Errors
    /// [`NameServerError::InvalidConfig`] if the configuration is invalid.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), NameServerError> {
        self.config.validate()?;
        match listener.local_addr() {
            Ok(addr) => info!(%addr, "listening on {addr}"),
            Err(e) => info!(error = %e, "listening (local address unknown)"),
        }
        // The scan stops when serving stops, whatever the reason.
        let scan_stop = shutdown.child_token();
        let serving = async {
            let opts = ServerOptions {
                max_connections_per_ip: self.config.max_connections_per_ip,
                frame_timeout: self.config.frame_timeout,
                ..ServerOptions::default()
            };
            serve(listener, self.clone(), shutdown, opts).await;
            scan_stop.cancel();
        };
        tokio::join!(serving, expiry::scan_loop(self.clone(), scan_stop.clone()));
        info!("NameServer stopped");
        Ok(())
    }
}
