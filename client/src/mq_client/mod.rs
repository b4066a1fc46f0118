//! [`MqClient`]: the one shared piece of client state per process —
//! connections, NameServer failover and the route cache. Producers,
//! consumers and admin clients built on the same `MqClient` share all three.

mod auto_create;
mod backoff;
mod heartbeat;
mod local;
mod namesrv;
mod notify;
mod routes;

pub(crate) use notify::GroupMember;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromq_protocol::{Rpc, TopicName};
use parking_lot::{Mutex, RwLock};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::route::TopicRoute;
use ferromq_remoting::{Connection, Reply};

/// A dial slot per address. The async mutex makes concurrent callers share
/// one dial instead of racing several connections to the same server, and
/// lets callers that queued behind a failed dial see its backoff at once.
type ConnSlot = Arc<tokio::sync::Mutex<Slot>>;

/// One address's connection and dial backoff.
#[derive(Debug, Default)]
struct Slot {
    conn: Option<Connection>,
    backoff: backoff::DialBackoff,
}

/// How old a route may get while a consumer reads from a slave before it
/// is read again, so that a returning master is noticed within about this
/// time (the routine refresh is `route_refresh_interval`, 30 s).
const SLAVE_READ_ROUTE_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Shared client state. Cheap to clone; every clone is the same client.
/// Background work (the route refresher) stops when the last clone is
/// dropped or [`MqClient::shutdown`] is called.
#[derive(Clone)]
pub struct MqClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// Cached connections by address. A plain mutex: only held to find or
    /// insert a slot, never across an await.
    conns: Mutex<HashMap<String, ConnSlot>>,
    /// Route cache by topic, read on every send; written by refreshes.
    routes: RwLock<HashMap<TopicName, Arc<TopicRoute>>>,
    /// Routes made up for topics the NameServers do not know yet, from the
    /// route of the auto-create topic. Producers only; kept apart so that
    /// consumers and admin calls never see them.
    provisional: RwLock<HashMap<TopicName, Arc<TopicRoute>>>,
    /// Index of the NameServer that answered last; tried first next time.
    namesrv_preferred: AtomicUsize,
    /// Set once the background refresher has been spawned (lazily, since
    /// `MqClient::new` may run outside a Tokio runtime).
    refresher_started: AtomicBool,
    /// This host's address as seen towards the NameServers, for born hosts
    /// and unique ids.
    local_ip: IpAddr,
    /// Client id and the consumer-group members brokers notify.
    members: notify::Members,
    shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl MqClient {
    /// A client with `config`. Connects lazily, on first use.
    pub fn new(config: ClientConfig) -> Self {
        let local_ip = local::local_ip(config.namesrv_addrs());
        Self {
            inner: Arc::new(Inner {
                config,
                conns: Mutex::default(),
                routes: RwLock::default(),
                provisional: RwLock::default(),
                namesrv_preferred: AtomicUsize::new(0),
                refresher_started: AtomicBool::new(false),
                local_ip,
                members: notify::Members::new(local_ip),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// A client for the NameServers in `addrs` (`"a:9876;b:9876"`), other
    /// settings at their defaults.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for a malformed address list.
    pub fn connect(addrs: &str) -> Result<Self> {
        Ok(Self::new(
            ClientConfig::builder().namesrv_addr(addrs).build()?,
        ))
    }

    /// The client a producer or consumer builder was given, or a new one
    /// for its NameServers.
    pub(crate) fn from_builder(client: Option<Self>, namesrv: Option<String>) -> Result<Self> {
        match (client, namesrv) {
            (Some(c), None) => Ok(c),
            (None, Some(addrs)) => Self::connect(&addrs),
            (None, None) => Err(ClientError::InvalidArgument(
                "give NameServer addresses or an MqClient".into(),
            )),
            (Some(_), Some(_)) => Err(ClientError::InvalidArgument(
                "give NameServer addresses or an MqClient, not both".into(),
            )),
        }
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// This host's IP address as the client reports it (born host, unique
    /// ids); `0.0.0.0` when it cannot be determined.
    pub fn local_ip(&self) -> IpAddr {
        self.inner.local_ip
    }

    /// A connection to `addr`, reusing the cached one unless it is closed
    /// (a closed one is dropped and the address dialled again; this
    /// includes a connection closed after
    /// [`ClientConfig::close_after_timeouts`] timeouts in a row). After a
    /// failed dial the address is not dialled again until its backoff has
    /// passed; calls in between fail at once.
    ///
    /// # Errors
    /// [`ClientError::Connect`] if dialling fails, [`ClientError::Backoff`]
    /// while backing off, [`ClientError::Shutdown`] after [`Self::shutdown`].
    pub async fn connection(&self, addr: &str) -> Result<Connection> {
        if self.is_shut_down() {
            return Err(ClientError::Shutdown);
        }
        let slot = self
            .inner
            .conns
            .lock()
            .entry(addr.to_string())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        match &slot.conn {
            Some(c) if !c.is_closed() => return Ok(c.clone()),
            Some(_) => {
                debug!(%addr, "connection closed; dropping it");
                slot.conn = None;
            }
            None => {}
        }
        if let Some((wait, cause)) = slot.backoff.wait(Instant::now()) {
            return Err(ClientError::Backoff {
                addr: addr.to_string(),
                retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                cause: cause.to_string(),
            });
        }
        let config = &self.inner.config;
        match Connection::connect(addr, config.connect_timeout()).await {
            Ok(conn) => {
                conn.set_close_after_timeouts(config.close_after_timeouts());
                // Brokers notify group members over this connection.
                conn.set_push_handler(notify::handler(
                    Arc::downgrade(&self.inner),
                    addr.to_string(),
                ));
                if slot.backoff.succeeded() {
                    info!(%addr, "connected again");
                }
                slot.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                let delay = slot.backoff.failed(
                    Instant::now(),
                    config.reconnect_backoff_initial(),
                    config.reconnect_backoff_max(),
                    e.to_string(),
                );
                debug!(%addr, error = %e, retry_in_ms = delay.as_millis() as u64, "dial failed; backing off");
                Err(e.into())
            }
        }
    }

    /// Sends a typed request to the server at `addr` and waits for the typed
    /// response; `timeout` covers dialling too. A timeout counts towards
    /// closing the connection ([`ClientConfig::close_after_timeouts`]).
    ///
    /// # Errors
    /// Transport errors, or [`ClientError::Server`] for an error response.
    pub async fn call<R: Rpc>(
        &self,
        addr: &str,
        req: &R,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply<R::Response>> {
        let deadline = Instant::now() + timeout;
        let conn = tokio::time::timeout_at(deadline, self.connection(addr))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Timeout {
                    addr: addr.to_string(),
                    millis: timeout.as_millis(),
                })
            })?;
        // The connection's own timeout ends the call, at the same deadline,
        // so that the connection counts it towards closing a hung one.
        Ok(conn.call_until(req, body, deadline, timeout).await?)
    }

    /// Whether `addr` is waiting out the backoff of a failed dial: it was
    /// unreachable a moment ago. An address being dialled right now is not.
    pub(crate) fn is_backing_off(&self, addr: &str) -> bool {
        let Some(slot) = self.inner.conns.lock().get(addr).cloned() else {
            return false;
        };
        slot.try_lock()
            .is_ok_and(|s| s.backoff.wait(Instant::now()).is_some())
    }

    /// Where to read `broker`'s queues of `topic`: the first of its
    /// addresses (master, then slaves by id) that is not backing off after
    /// a failed dial, else the first. So a consumer reads from a slave
    /// while the master is unreachable and goes back once a dial to the
    /// master succeeds again (the backoff ends after at most
    /// `reconnect_backoff_max`, and the next read tries the master).
    ///
    /// # Errors
    /// Route lookup errors; [`ClientError::BrokerUnavailable`] when the
    /// route lists no address for `broker`.
    pub(crate) async fn read_addr(
        &self,
        topic: &TopicName,
        broker: &ferromq_protocol::BrokerName,
    ) -> Result<String> {
        self.read_addr_suggested(topic, broker, 0).await
    }

    /// [`Self::read_addr`], going to replica `suggested` instead when the
    /// broker's last pull answer suggested it (a consumer far behind sent
    /// to a slave, RocketMQ's `slaveReadEnable`) and it is reachable.
    ///
    /// # Errors
    /// As [`Self::read_addr`].
    pub(crate) async fn read_addr_suggested(
        &self,
        topic: &TopicName,
        broker: &ferromq_protocol::BrokerName,
        suggested: u64,
    ) -> Result<String> {
        let mut route = self.topic_route(topic).await?;
        if suggested != 0 {
            if let Some(a) = route
                .addr_of(broker, suggested)
                .filter(|a| !self.is_backing_off(a))
            {
                return Ok(a.to_string());
            }
        }
        let mut chosen = self.pick_reader(&route, broker);
        // Reading from a slave: look for the master's return more often
        // than the routine refresh does.
        if chosen
            .as_deref()
            .is_none_or(|a| route.master_addr(broker) != Some(a))
            && route.fetched_at().elapsed() >= SLAVE_READ_ROUTE_REFRESH
        {
            if let Ok(fresh) = self.refresh_route(topic).await {
                route = fresh;
                chosen = self.pick_reader(&route, broker);
            }
        }
        chosen.ok_or_else(|| ClientError::BrokerUnavailable(broker.to_string()))
    }

    fn pick_reader(
        &self,
        route: &TopicRoute,
        broker: &ferromq_protocol::BrokerName,
    ) -> Option<String> {
        let addrs = route.read_addrs(broker);
        addrs
            .iter()
            .find(|a| !self.is_backing_off(a))
            .or_else(|| addrs.first())
            .cloned()
    }

    /// Diagnostics: the id of this client's open connection to `addr`, or
    /// `None` if it has none (never dialled, or the connection broke or was
    /// closed after timeouts and has not been dialled again yet). Ids are
    /// unique within the process, so a different id means a new connection.
    pub async fn connection_id(&self, addr: &str) -> Option<u64> {
        let slot = self.inner.conns.lock().get(addr).cloned()?;
        let slot = slot.lock().await;
        slot.conn
            .as_ref()
            .filter(|c| !c.is_closed())
            .map(Connection::id)
    }

    /// [`Self::call`] with the configured request timeout and no body,
    /// returning only the response header.
    ///
    /// # Errors
    /// As [`Self::call`].
    pub async fn call_header<R: Rpc>(&self, addr: &str, req: &R) -> Result<R::Response> {
        let timeout = self.inner.config.request_timeout();
        Ok(self.call(addr, req, Bytes::new(), timeout).await?.header)
    }

    /// Stops background work and refuses new calls. Producers and consumers
    /// built on this client fail with [`ClientError::Shutdown`] afterwards.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.conns.lock().clear();
    }

    /// Whether [`Self::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }
}

impl std::fmt::Debug for MqClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqClient")
            .field("namesrv_addrs", &self.inner.config.namesrv_addrs())
            .finish_non_exhaustive()
    }
}
