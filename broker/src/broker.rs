//! The broker: the store plus topics, offsets, held pulls and NameServer
//! registration, served over the shared remoting layer.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use ferromq_protocol::header::{
    TopicConfig, AUTO_CREATE_QUEUES, AUTO_CREATE_TOPIC, PERM_READ_WRITE,
};
use ferromq_protocol::{BrokerName, ResponseCode, TopicName};
use ferromq_remoting::{self as remoting, Handler, Request, Response, ServerOptions};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::groups::Groups;
use crate::long_poll::LongPollRegistry;
use crate::offsets::OffsetManager;
use crate::register;
use crate::schedule::{self, DelayLevels, Scheduler};
use crate::state::BrokerState;
use crate::stats::RuntimeStats;
use crate::topics::TopicManager;
use ferromq_store::MessageStore;

/// A running broker's state, shared by every connection.
pub struct Broker {
    config: BrokerConfig,
    store: Arc<MessageStore>,
    topics: TopicManager,
    offsets: OffsetManager,
    /// Consumer group membership, subscription groups and queue locks.
    groups: Groups,
    /// Delay levels and delivery of scheduled (delayed, retried) messages.
    scheduler: Scheduler,
    /// Broker-wide permission (write wiped for maintenance), persisted.
    state: BrokerState,
    /// Put/get counters and rates.
    stats: RuntimeStats,
    long_poll: Arc<LongPollRegistry>,
    /// Cancelled when shutdown begins: stops accepting and answers held pulls.
    shutdown: CancellationToken,
    /// Wakes the registration loop early (a topic changed).
    register_now: Notify,
    addr: String,
    store_host: SocketAddr,
    /// Held for the broker's lifetime: an advisory lock on `<store>/lock`
    /// so two brokers never share a store directory.
    _lock: File,
}

impl Broker {
    pub(crate) fn config(&self) -> &BrokerConfig {
        &self.config
    }
    pub(crate) fn store(&self) -> &MessageStore {
        &self.store
    }
    pub(crate) fn store_arc(&self) -> Arc<MessageStore> {
        self.store.clone()
    }
    pub(crate) fn topics(&self) -> &TopicManager {
        &self.topics
    }
    pub(crate) fn offsets(&self) -> &OffsetManager {
        &self.offsets
    }
    pub(crate) fn groups(&self) -> &Groups {
        &self.groups
    }
    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }
    pub(crate) fn state(&self) -> &BrokerState {
        &self.state
    }
    pub(crate) fn stats(&self) -> &RuntimeStats {
        &self.stats
    }
    pub(crate) fn long_poll(&self) -> &LongPollRegistry {
        &self.long_poll
    }
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
    pub(crate) fn name(&self) -> &BrokerName {
        &self.config.broker_name
    }
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }
    pub(crate) fn store_host(&self) -> SocketAddr {
        self.store_host
    }
    pub(crate) fn register_soon(&self) {
        self.register_now.notify_one();
    }
    pub(crate) async fn register_notified(&self) {
        self.register_now.notified().await;
    }

    /// The topic's config, or a `TopicNotExist` answer.
    pub(crate) fn topic_config(&self, topic: &TopicName) -> Result<TopicConfig, Response> {
        self.topics.get(topic).ok_or_else(|| self.no_topic(topic))
    }

    /// For a send: the topic's config, creating the topic first when it is
    /// unknown and this broker creates topics on first send.
    pub(crate) fn topic_config_for_send(&self, topic: &TopicName) -> Result<TopicConfig, Response> {
        if let Some(c) = self.topics.get(topic) {
            return Ok(c);
        }
        if !self.config.auto_create_topic || topic.as_str() == AUTO_CREATE_TOPIC {
            return Err(self.no_topic(topic));
        }
        let config = TopicConfig {
            name: topic.clone(),
            read_queues: AUTO_CREATE_QUEUES,
            write_queues: AUTO_CREATE_QUEUES,
            perm: PERM_READ_WRITE,
        };
        self.topics.upsert(config.clone()).map_err(|e| {
            Response::error(
                ResponseCode::SystemError,
                format!("cannot create topic {topic}: {e}"),
            )
        })?;
        info!(%topic, queues = AUTO_CREATE_QUEUES, "topic created on first send");
        self.register_soon();
        // A concurrent creator may have won with the same config; read back.
        Ok(self.topics.get(topic).unwrap_or(config))
    }

    /// An internal topic (retry, dead-letter): its config, creating it with
    /// one read-write queue when it does not exist. The dead-letter topic
    /// is readable too (RocketMQ makes it write-only), so operators and
    /// tests can read what was parked.
    ///
    /// # Errors
    /// The topics file cannot be written.
    pub(crate) fn ensure_topic(&self, topic: &TopicName) -> Result<TopicConfig, String> {
        if let Some(c) = self.topics.get(topic) {
            return Ok(c);
        }
        let config = TopicConfig {
            name: topic.clone(),
            read_queues: 1,
            write_queues: 1,
            perm: PERM_READ_WRITE,
        };
        self.topics
            .upsert(config.clone())
            .map_err(|e| format!("cannot create topic {topic}: {e}"))?;
        info!(%topic, "internal topic created");
        self.register_soon();
        Ok(self.topics.get(topic).unwrap_or(config))
    }

    fn no_topic(&self, topic: &TopicName) -> Response {
        Response::error(
            ResponseCode::TopicNotExist,
            format!(
                "topic {topic} does not exist on broker {} — create it with mqadmin updateTopic",
                self.config.broker_name
            ),
        )
    }
}

impl Handler for Broker {
    async fn handle(&self, req: Request) -> Response {
        crate::handlers::dispatch(self, req).await
    }
}

fn advertised(
    config: &BrokerConfig,
    local: SocketAddr,
) -> Result<(String, SocketAddr), BrokerError> {
    let fallback = if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
    } else {
        local
    };
    match &config.advertise_addr {
        None => Ok((fallback.to_string(), fallback)),
        Some(a) => {
            // Message ids carry an IP, so a host name is resolved once here.
            let host = std::net::ToSocketAddrs::to_socket_addrs(a)
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    BrokerError::Config(format!("cannot resolve advertise address {a}"))
                })?;
            Ok((a.clone(), host))
        }
    }
}

/// A started broker: serving until its shutdown token is cancelled.
pub struct BrokerHandle {
    broker: Arc<Broker>,
    task: tokio::task::JoinHandle<Result<(), BrokerError>>,
}

impl BrokerHandle {
    /// The broker's store (for inspection and fault injection in tests).
    pub fn store(&self) -> &Arc<MessageStore> {
        &self.broker.store
    }

    /// The address clients are told to use.
    pub fn addr(&self) -> &str {
        &self.broker.addr
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
    let (addr, store_host) = advertised(&config, local)?;
    let dir = config.store_dir.clone();
    std::fs::create_dir_all(&dir).map_err(BrokerError::io(format!("create {}", dir.display())))?;
    let lock = File::create(dir.join("lock")).map_err(BrokerError::io("create lock file"))?;
    if lock.try_lock().is_err() {
        return Err(BrokerError::Locked(dir.display().to_string()));
    }
    let config_dir = dir.join("config");
    let topics = TopicManager::load(config_dir.clone()).map_err(BrokerError::io("load topics"))?;
    let state =
        BrokerState::load(config_dir.clone()).map_err(BrokerError::io("load broker state"))?;
    let offsets = OffsetManager::load(config_dir.clone())
        .map_err(BrokerError::io("load consumer offsets"))?;
    let groups = Groups::load(
        config_dir.clone(),
        config.client_channel_expiry,
        config.queue_lock_expiry,
    )
    .map_err(BrokerError::io("load subscription groups"))?;
    let levels = DelayLevels::parse(&config.message_delay_levels)
        .map_err(|e| BrokerError::Config(format!("message delay levels: {e}")))?;
    let scheduler =
        Scheduler::load(levels, config_dir).map_err(BrokerError::io("load delay offsets"))?;
    if config.client_scan_interval.is_zero() {
        return Err(BrokerError::Config(
            "client scan interval must be above zero".into(),
        ));
    }

    let long_poll = Arc::new(LongPollRegistry::default());
    let sc = config.store_config(store_host);
    let listener_arc = long_poll.clone();
    let store = tokio::task::spawn_blocking(move || MessageStore::open(sc, listener_arc))
        .await
        .map_err(|source| BrokerError::Task {
            what: "store open",
            source,
        })??;

    let broker = Arc::new(Broker {
        config,
        store,
        topics,
        offsets,
        groups,
        scheduler,
        state,
        stats: RuntimeStats::new(),
        long_poll,
        shutdown: shutdown.child_token(),
        register_now: Notify::new(),
        addr,
        store_host,
        _lock: lock,
    });
    info!(
        broker = %broker.config.broker_name,
        cluster = %broker.config.cluster,
        listen = %local,
        advertise = %broker.addr,
        flush = %broker.config.flush,
        store = %dir.display(),
        "broker started"
    );
    #[cfg(feature = "discard-sends")]
    tracing::warn!(
        "measurement build (feature discard-sends): sends are answered Success and NOT stored"
    );

    let task = tokio::spawn(serve_until_shutdown(broker.clone(), listener));
    Ok(BrokerHandle { broker, task })
}

async fn serve_until_shutdown(
    broker: Arc<Broker>,
    listener: TcpListener,
) -> Result<(), BrokerError> {
    let reg = tokio::spawn(register::register_loop(broker.clone()));
    let persist = tokio::spawn(persist_loop(broker.clone()));
    let sampler = tokio::spawn(sample_loop(broker.clone()));
    let clients = tokio::spawn(client_scan_loop(broker.clone()));
    let delivery = tokio::spawn(schedule::deliver::run(broker.clone()));
    let opts = ServerOptions {
        max_frame_len: broker.config.max_frame_len,
        ..ServerOptions::default()
    };
    remoting::serve(listener, broker.clone(), broker.shutdown.clone(), opts).await;

    info!("shutting down: flushing the store");
    broker.shutdown.cancel();
    let _ = reg.await;
    let _ = persist.await;
    let _ = sampler.await;
    let _ = clients.await;
    // Deliveries in progress finish before the store stops, so every
    // recorded delay offset is covered by a stored copy.
    let _ = delivery.await;
    let store_result = broker.store.shutdown().await;
    if let Err(e) = &store_result {
        error!(error = %e, "store shutdown failed");
    }
    if let Err(e) = broker.offsets.persist() {
        error!(error = %e, "persisting consumer offsets failed");
    }
    if let Err(e) = broker.scheduler.offsets().persist() {
        error!(error = %e, "persisting delay offsets failed");
    }
    register::unregister_all(&broker).await;
    info!("broker stopped");
    store_result.map_err(BrokerError::from)
}

async fn persist_loop(b: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(b.config.offset_flush_interval) => {}
        }
        if let Err(e) = b.offsets.persist() {
            warn!(error = %e, "persisting consumer offsets failed; will retry");
        }
        if let Err(e) = b.scheduler.offsets().persist() {
            warn!(error = %e, "persisting delay offsets failed; will retry");
        }
    }
}

/// Removes consumer clients that went silent or whose connection closed,
/// and tells their groups.
async fn client_scan_loop(b: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(b.config.client_scan_interval) => {}
        }
        b.groups.scan(std::time::Instant::now());
    }
}

async fn sample_loop(b: Arc<Broker>) {
    loop {
        b.stats.sample(b.store.stats().messages);
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}
