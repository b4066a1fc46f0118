//! The broker's lifecycle: open the store and state files, serve requests
//! over the shared remoting layer, run the background loops, and shut down
//! in order.
//!
//! ```text
//! start: advertise address ─ lock <store>/lock ─ Broker::open (state files, store)
//!        ─ spawn serve_until_shutdown
//! serve: remoting::serve(Dispatch) ─▶ handlers::dispatch ─▶ service::Broker
//!        loops (loops.rs): register, persist offsets, stats, client scan,
//!        scheduled delivery
//! shutdown: stop accepting ─ answer held pulls ─ drain in-flight requests
//!        ─ stop the loops (deliveries in progress finish) ─ flush and fsync
//!        the store ─ persist offsets ─ unregister from the NameServers
//! ```

mod loops;
mod roles;

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use ferromq_remoting::{self as remoting, Handler, Request, Response};
use ferromq_store::MessageStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::ha;
use crate::handlers;
use crate::register::{self, Registration};
use crate::service::{Broker, Endpoint};

/// The remoting layer's view of the broker: every request goes to the
/// handlers.
struct Dispatch(Arc<Broker>);

impl Handler for Dispatch {
    async fn handle(&self, req: Request) -> Response {
        handlers::dispatch(&self.0, req).await
    }
}

/// The HA port's view of the broker: slaves' handshakes and fetches.
struct HaDispatch(Arc<Broker>);

impl Handler for HaDispatch {
    async fn handle(&self, req: Request) -> Response {
        handlers::ha::dispatch(&self.0, req).await
    }
}

/// A started broker: serving until its shutdown token is cancelled.
pub struct BrokerHandle {
    broker: Arc<Broker>,
    ha_addr: SocketAddr,
    task: tokio::task::JoinHandle<Result<(), BrokerError>>,
}

impl BrokerHandle {
    /// The broker's store (for inspection and fault injection in tests).
    pub fn store(&self) -> &Arc<MessageStore> {
        self.broker.store()
    }

    /// The address clients are told to use.
    pub fn addr(&self) -> &str {
        self.broker.addr()
    }

    /// The HA port's bound address (where slaves connect).
    pub fn ha_addr(&self) -> SocketAddr {
        self.ha_addr
    }

    /// Waits until the broker has shut down.
    ///
    /// # Errors
    /// A store that failed to flush at shutdown.
    pub async fn join(self) -> Result<(), BrokerError> {
        self.task.await.map_err(|source| BrokerError::Task {
            what: "broker",
            source,
        })?
    }
}

/// Opens the store and state files, then serves on `listener` until
/// `shutdown` is cancelled, and shuts down in order: stop accepting, answer
/// held pulls, drain in-flight requests, flush and fsync the store, persist
/// offsets, unregister from the NameServers.
///
/// # Errors
/// Startup failures (locked or corrupt store, unreadable state files) and a
/// store that fails to flush at shutdown.
pub async fn run(
    config: BrokerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BrokerError> {
    start(config, listener, shutdown).await?.join().await
}

/// Like [`run`], but returns once the broker is serving.
///
/// # Errors
/// Startup failures (locked or corrupt store, unreadable state files).
pub async fn start(
    config: BrokerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<BrokerHandle, BrokerError> {
    let local = listener
        .local_addr()
        .map_err(BrokerError::io("listener address"))?;
    let endpoint = advertised(&config, local)?;
    let dir = config.store.dir.clone();
    std::fs::create_dir_all(&dir).map_err(BrokerError::io(format!("create {}", dir.display())))?;
    let lock = File::create(dir.join("lock")).map_err(BrokerError::io("create lock file"))?;
    if lock.try_lock().is_err() {
        return Err(BrokerError::Locked(dir.display().to_string()));
    }
    let registration = Registration::new(&config, &endpoint.addr);
    let ha_at = ha::ha_listen(&config, local);
    let ha_listener = TcpListener::bind(&ha_at)
        .await
        .map_err(BrokerError::io(format!("bind the HA port {ha_at}")))?;
    let ha_addr = ha_listener
        .local_addr()
        .map_err(BrokerError::io("HA listener address"))?;
    let mut endpoint = endpoint;
    endpoint.ha_addr = if ha_addr.ip().is_unspecified() {
        SocketAddr::new(endpoint.store_host.ip(), ha_addr.port())
    } else {
        ha_addr
    }
    .to_string();
    let broker = Arc::new(Broker::open(config, endpoint, lock, shutdown.child_token()).await?);
    let config = broker.config();
    info!(
        broker = %config.broker_name,
        cluster = %config.cluster,
        listen = %local,
        advertise = %broker.addr(),
        flush = %broker.store().config().flush,
        store = %dir.display(),
        broker_id = config.broker_id,
        ha = %ha_addr,
        "broker started"
    );
    #[cfg(feature = "discard-sends")]
    tracing::warn!(
        "measurement build (feature discard-sends): sends are answered Success and NOT stored"
    );

    // An old master whose group promoted a slave while it was away steps
    // down before it takes a single send.
    roles::step_down_if_superseded(&broker, true).await;
    broker.fence_until_controller();
    let task = tokio::spawn(serve_until_shutdown(
        broker.clone(),
        registration,
        listener,
        ha_listener,
    ));
    Ok(BrokerHandle {
        broker,
        ha_addr,
        task,
    })
}

/// The address clients are told to use and the store host stamped into
/// records: the configured advertise address, else the listener's (with
/// 127.0.0.1 for an unspecified IP).
fn advertised(config: &BrokerConfig, local: SocketAddr) -> Result<Endpoint, BrokerError> {
    let fallback = if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
    } else {
        local
    };
    match &config.advertise_addr {
        None => Ok(Endpoint {
            addr: fallback.to_string(),
            store_host: fallback,
            ha_addr: String::new(),
        }),
        Some(a) => {
            // Message ids carry an IP, so a host name is resolved once here.
            let store_host = std::net::ToSocketAddrs::to_socket_addrs(a)
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    BrokerError::Config(format!("cannot resolve advertise address {a}"))
                })?;
            Ok(Endpoint {
                addr: a.clone(),
                store_host,
                ha_addr: String::new(),
            })
        }
    }
}

async fn serve_until_shutdown(
    broker: Arc<Broker>,
    registration: Registration,
    listener: TcpListener,
    ha_listener: TcpListener,
) -> Result<(), BrokerError> {
    let registration = Arc::new(registration);
    let reg = tokio::spawn(loops::register(broker.clone(), registration.clone()));
    let persist = tokio::spawn(loops::persist_offsets(broker.clone()));
    let sampler = tokio::spawn(loops::sample_stats(broker.clone()));
    let clients = tokio::spawn(loops::scan_clients(broker.clone()));
    let delivery = tokio::spawn(loops::deliver_scheduled(broker.clone()));
    let ha_port = tokio::spawn(remoting::serve(
        ha_listener,
        Arc::new(HaDispatch(broker.clone())),
        broker.shutdown_token().clone(),
        broker.server_options(),
    ));
    let roles = tokio::spawn(roles::supervise(broker.clone()));
    let controller = tokio::spawn(broker.clone().run_controller_agent());
    let opts = broker.server_options();
    let shutdown = broker.shutdown_token().clone();
    remoting::serve(
        listener,
        Arc::new(Dispatch(broker.clone())),
        shutdown.clone(),
        opts,
    )
    .await;

    info!("shutting down: flushing the store");
    shutdown.cancel();
    let _ = reg.await;
    let _ = persist.await;
    let _ = sampler.await;
    let _ = clients.await;
    // Deliveries in progress finish before the store stops, so every
    // recorded delay offset is covered by a stored copy.
    let _ = delivery.await;
    let _ = ha_port.await;
    let _ = roles.await;
    let _ = controller.await;
    let store_result = broker.store().shutdown().await;
    if let Err(e) = &store_result {
        error!(error = %e, "store shutdown failed");
    }
    if let Err(e) = broker.persist_consumer_offsets() {
        error!(error = %e, "persisting consumer offsets failed");
    }
    if let Err(e) = broker.persist_delay_offsets() {
        error!(error = %e, "persisting delay offsets failed");
    }
    if let Some(id) = broker.registered_id() {
        register::unregister_all(&registration, id).await;
    }
    info!("broker stopped");
    store_result.map_err(BrokerError::from)
}
