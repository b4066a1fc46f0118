//! The slave's side: connect to the master's HA port, agree on where the
//! logs diverge, truncate, then fetch and append the master's log for as
//! long as the broker runs, reconnecting after any failure.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq_protocol::header::{EpochStart, HaFetch, HaHandshake, HaHandshakeResponse};
use ferromq_protocol::CommitLogOffset;
use ferromq_remoting::Connection;
use ferromq_store::{AppendError, MessageStore};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::master::MAX_FETCH_BYTES;
use crate::config::BrokerConfig;

/// How long a fetch is held at the master's end.
const HOLD: Duration = Duration::from_millis(1000);
/// Pause before reconnecting after a failure.
const RETRY: Duration = Duration::from_millis(500);
/// Dial and handshake timeout.
const CONNECT: Duration = Duration::from_secs(3);

/// What the slave loop needs from the broker.
pub(crate) struct SlaveContext {
    pub(crate) config: BrokerConfig,
    pub(crate) store: Arc<MessageStore>,
    /// This broker's client address, shown in the master's `haStatus`.
    pub(crate) addr: String,
    /// This slave's broker id.
    pub(crate) broker_id: u64,
    /// Where the master's HA port is (`--master-addr`); `None`: asked of
    /// the NameServers before every session.
    pub(crate) master_ha: Option<String>,
    /// The highest epoch a master announced (a promotion goes above it).
    pub(crate) master_epoch_seen: Arc<AtomicU32>,
    /// Ends replication (shutdown, or a change of role), between appends.
    pub(crate) shutdown: CancellationToken,
}

/// Replicates until shutdown.
pub(crate) async fn run(ctx: SlaveContext) {
    while !ctx.shutdown.is_cancelled() {
        match session(&ctx).await {
            Err(SessionEnd::Stopped) => return,
            Err(e) => warn!(error = %e, "replication interrupted; reconnecting"),
            Ok(()) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = ctx.shutdown.cancelled() => return,
        }
    }
}

fn to_wire(store: &MessageStore) -> Vec<EpochStart> {
    store
        .epochs()
        .iter()
        .map(|e| EpochStart {
            epoch: e.epoch,
            start_offset: e.start.get(),
        })
        .collect()
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionEnd {
    #[error(transparent)]
    Remote(#[from] ferromq_remoting::RemotingError),
    #[error(transparent)]
    Store(#[from] ferromq_store::StoreError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the master's epoch changed from {0} to {1}")]
    NewEpoch(u32, u32),
    #[error("no NameServer knows a master (id 0) of {0}; set --master-addr or start the master")]
    NoMaster(String),
    #[error("replication stopped")]
    Stopped,
}

impl SlaveContext {
    /// The master's HA address: `--master-addr`, else the NameServers'
    /// address of this broker name's id 0 with its port + 1 (the default
    /// HA port).
    pub(crate) async fn master_ha(&self) -> Result<String, SessionEnd> {
        match &self.master_ha {
            Some(a) => Ok(a.clone()),
            None => master_from_namesrv(&self.config).await,
        }
    }
}

/// Asks each NameServer in turn for this broker name's master.
async fn master_from_namesrv(config: &BrokerConfig) -> Result<String, SessionEnd> {
    let group = super::group_from_namesrv(config, |addrs| addrs.contains_key(&0)).await;
    match group.as_ref().and_then(|g| g.get(&0)) {
        Some(m) => Ok(ha_addr_of(m).await),
        None => Err(SessionEnd::NoMaster(config.broker_name.to_string())),
    }
}

/// The HA address the broker at `addr` reports, else its port + 1 (the
/// default).
async fn ha_addr_of(addr: &str) -> String {
    use ferromq_protocol::header::GetBrokerRuntimeInfoRequest;
    if let Ok(conn) = Connection::connect(addr, CONNECT).await {
        if let Ok(info) = conn
            .call(
                &GetBrokerRuntimeInfoRequest {},
                bytes::Bytes::new(),
                CONNECT,
            )
            .await
        {
            if !info.header.ha_addr.is_empty() {
                return info.header.ha_addr;
            }
        }
    }
    match addr.parse::<std::net::SocketAddr>() {
        Ok(m) => std::net::SocketAddr::new(m.ip(), m.port().wrapping_add(1)).to_string(),
        Err(_) => addr.to_string(),
    }
}

async fn session(ctx: &SlaveContext) -> Result<(), SessionEnd> {
    let store = &ctx.store;
    // Until the first append, stopping may cut in anywhere.
    let (master_ha, conn, reply) = tokio::select! {
        r = handshake(ctx) => r?,
        () = ctx.shutdown.cancelled() => return Err(SessionEnd::Stopped),
    };
    ctx.master_epoch_seen
        .fetch_max(reply.master_epoch, Ordering::AcqRel);
    prepare(store, &reply).await?;
    info!(
        master = %master_ha,
        epoch = reply.master_epoch,
        from = store.log_end().get(),
        "replicating from the master"
    );
    let mut pending: Vec<EpochStart> = reply
        .epochs
        .iter()
        .filter(|e| {
            store
                .epochs()
                .last()
                .is_none_or(|mine| e.epoch > mine.epoch)
        })
        .copied()
        .collect();
    loop {
        let at = store.log_end();
        let fetch = HaFetch {
            session: reply.session,
            offset: at.get(),
            flushed: store.flushed_end().get(),
            max_bytes: MAX_FETCH_BYTES,
            hold_ms: HOLD.as_millis() as u32,
        };
        // Stopping is only looked at here, between appends: a change of
        // role never finds a replicated append half done.
        let got = tokio::select! {
            got = conn.call(&fetch, bytes::Bytes::new(), HOLD + CONNECT) => got?,
            () = ctx.shutdown.cancelled() => return Err(SessionEnd::Stopped),
        };
        if got.header.master_epoch != reply.master_epoch {
            return Err(SessionEnd::NewEpoch(
                reply.master_epoch,
                got.header.master_epoch,
            ));
        }
        let mut body = got.body;
        let mut offset = at.get();
        while !body.is_empty() {
            // An epoch that starts inside this chunk begins where its
            // first byte goes: append up to it, record it, go on.
            let split = pending
                .first()
                .map(|e| e.start_offset)
                .filter(|s| *s < offset + body.len() as u64);
            if let Some(start) = split {
                if start <= offset {
                    begin_epoch(store, pending.remove(0)).await?;
                    continue;
                }
                let head = body.split_to((start - offset) as usize);
                offset = store
                    .append_replicated(CommitLogOffset::new(offset), head)
                    .await?
                    .get();
                continue;
            }
            let chunk = std::mem::take(&mut body);
            offset = append(store, offset, chunk).await?;
        }
        // Epochs that start exactly at the end of what we have.
        while pending.first().is_some_and(|e| e.start_offset <= offset) {
            begin_epoch(store, pending.remove(0)).await?;
        }
    }
}

/// Finds the master, connects and says hello.
async fn handshake(
    ctx: &SlaveContext,
) -> Result<(String, Connection, HaHandshakeResponse), SessionEnd> {
    let store = &ctx.store;
    let master_ha = ctx.master_ha().await?;
    let conn = Connection::connect(&master_ha, CONNECT).await?;
    let hello = HaHandshake {
        cluster: ctx.config.cluster.clone(),
        broker_name: ctx.config.broker_name.clone(),
        broker_id: ctx.broker_id,
        addr: ctx.addr.clone(),
        segment_size: ctx.config.store.segment_size,
        log_end: store.log_end().get(),
        epochs: to_wire(store),
    };
    let reply = conn
        .call(&hello, bytes::Bytes::new(), CONNECT)
        .await?
        .header;
    Ok((master_ha, conn, reply))
}

/// Records the master's epoch `e` once this log reaches its start.
async fn begin_epoch(store: &Arc<MessageStore>, e: EpochStart) -> Result<(), SessionEnd> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        s.begin_epoch(e.epoch, CommitLogOffset::new(e.start_offset))
    })
    .await??;
    Ok(())
}

async fn append(
    store: &MessageStore,
    offset: u64,
    chunk: bytes::Bytes,
) -> Result<u64, AppendError> {
    match store
        .append_replicated(CommitLogOffset::new(offset), chunk)
        .await
    {
        Ok(end) => Ok(end.get()),
        // Written; durable once the flush completes, which the next fetch
        // reports.
        Err(AppendError::FlushTimeout(_)) => Ok(store.log_end().get()),
        Err(e) => Err(e),
    }
}

/// Cuts what the master never had and starts afresh when the master no
/// longer has where this log ends.
async fn prepare(store: &Arc<MessageStore>, reply: &HaHandshakeResponse) -> Result<(), SessionEnd> {
    let end = store.log_end().get();
    let s = store.clone();
    let (agreed, min) = (reply.agreed_end, reply.master_min_offset);
    tokio::task::spawn_blocking(move || -> Result<(), ferromq_store::StoreError> {
        if agreed < end {
            warn!(
                from = agreed,
                to = end,
                "truncating what the master does not have"
            );
            s.truncate_to(CommitLogOffset::new(agreed))?;
        }
        if s.log_end().get() < min || (s.log_end().get() == 0 && min > 0) {
            info!(at = min, "starting afresh at the master's oldest offset");
            s.reset_to(CommitLogOffset::new(min))?;
        }
        Ok(())
    })
    .await??;
    Ok(())
}
