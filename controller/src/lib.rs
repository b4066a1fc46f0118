//! FerroMQ's controller: per broker group its replicas, master, epoch and
//! in-sync set, replicated across three or five nodes with Raft
//! ([openraft]), and the election of a new master from the in-sync set
//! when a master stops heartbeating (RocketMQ 5's controller mode).
//!
//! Data flow: a request on the controller port goes to the handler
//! (`handler.rs`), which decodes it and calls [`Controller`]
//! (`service.rs`). Changes (a broker registers, a master alters its
//! in-sync set, an election) are proposed to Raft as [`state::Command`]s;
//! every node applies them to [`state::ControllerState`] (pure, in
//! `state.rs`). Heartbeats stay in the leader's memory; its scan
//! (`Controller::scan_loop`) proposes an election when a master has been
//! silent for the heartbeat timeout. `raft/` holds the adapters the Raft
//! library needs: the log and snapshot on disk, the state machine, and the
//! network over FerroMQ's frames. `client.rs` is how brokers and tools
//! reach whichever node leads.

pub mod client;
mod config;
mod handler;
pub mod raft;
mod service;
pub mod state;

use std::sync::Arc;

use anyhow::Context;
use ferromq_remoting::{serve, ServerOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use client::ControllerClient;
pub use config::{parse_peers, ControllerConfig, NodeSetup, MAX_NODES};
pub use handler::ControllerHandler;
pub use service::{Controller, Refusal};

/// Binds the node's port, starts Raft and serves until `shutdown`.
///
/// # Errors
/// Invalid settings, a port that cannot be bound, storage that cannot be
/// opened.
pub async fn run(config: ControllerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let setup = config.setup().map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(&setup.listen)
        .await
        .with_context(|| format!("cannot listen on {}", setup.listen))?;
    serve_on(config, &setup, listener, shutdown).await
}

/// [`run`] on a listener the caller bound.
///
/// # Errors
/// Storage that cannot be opened, Raft that cannot start.
pub async fn serve_on(
    config: ControllerConfig,
    setup: &NodeSetup,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let controller = Controller::start(config, setup).await?;
    info!(controller_addr = %addr, id = setup.id, peers = ?setup.peers, "controller serving at {addr}");
    let scan_stop = shutdown.child_token();
    let scan = tokio::spawn(controller.clone().scan_loop(scan_stop.clone()));
    serve(
        listener,
        Arc::new(ControllerHandler(controller.clone())),
        shutdown,
        ServerOptions::default(),
    )
    .await;
    scan_stop.cancel();
    let _ = scan.await;
    controller.shutdown().await;
    info!("controller stopped");
    Ok(())
}
