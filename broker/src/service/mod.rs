//! The broker's domain, behind one facade: [`Broker`] owns the store, the
//! topics, consumer offsets and groups, scheduled delivery and held pulls,
//! and answers every request with a domain result or a [`ServiceError`].
//! It never sees a socket or a wire `Response`.
//!
//! ```text
//! handlers ──one call per request──▶ Broker
//!     messages.rs  send (auto-create, permission, queue range), pull (held),
//!                  queries and offset lookups
//!     retry.rs     send-back: retry copy or dead letter
//!     topics.rs    create, update, delete across every part; internal topics
//!     groups.rs    heartbeats, subscription groups, queue locks, offsets
//!     admin.rs     runtime figures, write permission, stats, offset reset
//! server loops ──▶ delivery.rs (due scheduled messages) and the upkeep below
//! ```
//!
//! Policy lives here: a handler decodes, calls one method and encodes.

mod admin;
mod controlled;
mod delivery;
mod error;
mod groups;
mod ha;
mod messages;
mod metadata;
mod retry;
mod role;
mod topics;

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;

use ferromq_store::{MessageStore, StoreRole};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::groups::Groups;
use crate::ha::replicas::Replicas;
use crate::long_poll::LongPollRegistry;
use crate::offsets::OffsetManager;
use crate::schedule::{DelayLevels, Scheduler};
use crate::state::BrokerState;
use crate::stats::RuntimeStats;
use crate::topics::TopicManager;

pub(crate) use crate::filter::Pulled;
pub(crate) use error::ServiceError;
pub(crate) use messages::SendStatus;
pub(crate) use role::RoleRequest;

/// Where clients reach this broker.
pub(crate) struct Endpoint {
    /// The address clients are told to use (NameServer routes).
    pub(crate) addr: String,
    /// The same as a socket address, stamped into every record (message
    /// ids carry it).
    pub(crate) store_host: SocketAddr,
    /// Where slaves reach the HA port.
    pub(crate) ha_addr: String,
}

/// A running broker's state, shared by every connection and background
/// loop.
pub(crate) struct Broker {
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
    /// Held pulls; shared with the store, whose dispatcher wakes them.
    long_poll: Arc<LongPollRegistry>,
    /// Cancelled when shutdown begins: stops accepting and answers held pulls.
    shutdown: CancellationToken,
    /// Wakes the registration loop early (a topic changed).
    register_now: Notify,
    endpoint: Endpoint,
    /// A master's slaves and its in-sync set (empty on a slave).
    replicas: Arc<Replicas>,
    /// On a slave: offsets consumers committed here that the master has
    /// not confirmed yet (see `metadata.rs`).
    slave_commits: metadata::SlaveCommits,
    /// Role changes for the server's role supervisor (see `role.rs`).
    role_requests: tokio::sync::mpsc::Sender<RoleRequest>,
    /// Taken once by the supervisor.
    role_inbox: parking_lot::Mutex<Option<tokio::sync::mpsc::Receiver<RoleRequest>>>,
    /// The highest epoch a master of this slave announced; a promotion
    /// goes above it.
    master_epoch_seen: Arc<std::sync::atomic::AtomicU32>,
    /// Held for the broker's lifetime: an advisory lock on `<store>/lock`
    /// so two brokers never share a store directory.
    _lock: File,
}

impl Broker {
    /// Loads the state files under the store directory and opens the
    /// store. `lock` is the store directory's lock, already taken.
    ///
    /// # Errors
    /// Unreadable or corrupt state files, an invalid delay-level table or
    /// client scan interval, a store that fails to open.
    pub(crate) async fn open(
        config: BrokerConfig,
        endpoint: Endpoint,
        lock: File,
        shutdown: CancellationToken,
    ) -> Result<Self, BrokerError> {
        let config_dir = config.store.dir.join("config");
        let topics =
            TopicManager::load(config_dir.clone()).map_err(BrokerError::io("load topics"))?;
        let configured = crate::state::Role {
            broker_id: config.broker_id,
            master_ha: config.ha.master_addr.clone(),
        };
        let state = BrokerState::load(config_dir.clone(), configured)
            .map_err(BrokerError::io("load broker state"))?;
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
        let sc = config.store_config(endpoint.store_host);
        let listener = long_poll.clone();
        let store = tokio::task::spawn_blocking(move || MessageStore::open(sc, listener))
            .await
            .map_err(|source| BrokerError::Task {
                what: "store open",
                source,
            })??;
        if !state.role().is_master() {
            store.set_role(StoreRole::Slave);
        } else if store.epochs().is_empty() {
            // The first master of a store: its history starts here.
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.begin_epoch(1, s.commit_log_min_offset()))
                .await
                .map_err(|source| BrokerError::Task {
                    what: "epoch start",
                    source,
                })??;
        }
        let replicas = Arc::new(Replicas::new(
            config.ha.ha_max_gap_not_in_sync,
            config.ha.ha_in_sync_timeout,
            config.ha.min_in_sync_replicas(),
        ));
        let (role_requests, role_inbox) = role::channel();
        Ok(Self {
            replicas,
            slave_commits: metadata::SlaveCommits::default(),
            role_requests,
            role_inbox: parking_lot::Mutex::new(Some(role_inbox)),
            master_epoch_seen: Arc::default(),
            config,
            store,
            topics,
            offsets,
            groups,
            scheduler,
            state,
            stats: RuntimeStats::new(),
            long_poll,
            shutdown,
            register_now: Notify::new(),
            endpoint,
            _lock: lock,
        })
    }

    /// The settings the broker was started with.
    pub(crate) fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The message store.
    pub(crate) fn store(&self) -> &Arc<MessageStore> {
        &self.store
    }

    /// The address clients are told to use.
    pub(crate) fn addr(&self) -> &str {
        &self.endpoint.addr
    }

    /// Cancelled when shutdown begins.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Whether this broker is a slave now (a fenced master is not).
    fn is_slave(&self) -> bool {
        !self.state.role().is_master()
    }

    /// The role changes for the supervisor; `None` after the first call.
    pub(crate) fn take_role_inbox(&self) -> Option<tokio::sync::mpsc::Receiver<RoleRequest>> {
        self.role_inbox.lock().take()
    }

    /// Refuses `what` (an admin write) on a slave: its metadata follows the
    /// master, which is where such a change belongs.
    ///
    /// # Errors
    /// `NoPermission` on a slave.
    fn require_master(&self, what: &str) -> Result<(), ServiceError> {
        if self.is_slave() {
            return Err(ServiceError::NoPermission(format!(
                "broker {} id {} is a slave: {what} on its master",
                self.config.broker_name,
                self.broker_id()
            )));
        }
        Ok(())
    }

    fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Routes changed: registers with the NameServers soon rather than
    /// at the next interval.
    /// The server loop's limits from the settings.
    pub(crate) fn server_options(&self) -> ferromq_remoting::ServerOptions {
        ferromq_remoting::ServerOptions {
            max_frame_len: self.config.max_frame_len,
            max_connections_per_ip: self.config.max_connections_per_ip,
            frame_timeout: self
                .config
                .frame_timeout
                .max(std::time::Duration::from_millis(100)),
            ..ferromq_remoting::ServerOptions::default()
        }
    }

    fn register_soon(&self) {
        self.register_now.notify_one();
    }

    /// Waits until a change of routes (topics, permission) asks for an
    /// early registration.
    pub(crate) async fn routes_changed(&self) {
        self.register_now.notified().await;
    }

    /// Writes the consumer offsets if they changed.
    ///
    /// # Errors
    /// The I/O error; they stay dirty and are written next time.
    pub(crate) fn persist_consumer_offsets(&self) -> std::io::Result<()> {
        self.offsets.persist()
    }

    /// Writes the scheduled-delivery progress if it changed.
    ///
    /// # Errors
    /// The I/O error; it stays dirty and is written next time.
    pub(crate) fn persist_delay_offsets(&self) -> std::io::Result<()> {
        self.scheduler.offsets().persist()
    }

    /// Removes consumer clients that went silent or whose connection
    /// closed, and tells their groups.
    pub(crate) fn scan_clients(&self) {
        self.groups.scan(std::time::Instant::now());
    }

    /// Records the put and get totals for the rates; about once a second.
    pub(crate) fn sample_stats(&self) {
        self.stats.sample(self.store.stats().messages);
    }
}
