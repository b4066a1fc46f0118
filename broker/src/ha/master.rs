//! The master's side of the HA port: a slave's handshake and its fetches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromq_protocol::header::{
    EpochStart, HaFetch, HaFetchResponse, HaHandshake, HaHandshakeResponse,
};
use ferromq_protocol::CommitLogOffset;
use ferromq_store::{agreed_end, EpochEntry, MessageStore, StoreError};
use thiserror::Error;
use tokio::sync::Notify;

use super::replicas::{Replicas, SessionError};
use crate::config::BrokerConfig;

/// Largest answer to one fetch, whatever the slave asks.
pub(crate) const MAX_FETCH_BYTES: u32 = 4 << 20;
/// Longest a fetch is held at the master's end.
const MAX_HOLD: Duration = Duration::from_secs(5);
/// Re-check of the flushed end while a fetch is held. Arrivals wake a held
/// fetch at once; in async flush mode they come before the flush that makes
/// the bytes servable, so the fetch looks again this often.
const RECHECK: Duration = Duration::from_millis(2);

/// Why the master refuses a slave.
#[derive(Debug, Error)]
pub(crate) enum HaError {
    /// This broker is not its group's master.
    #[error("broker is not a master (broker id {0}); connect to id 0 of the group")]
    NotMaster(u64),
    /// The slave belongs to another group, or cannot copy this log.
    #[error("{0}")]
    Mismatch(String),
    /// A session error (duplicate slave, unknown session, a claim beyond
    /// the master's end).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The store could not serve the log.
    #[error("reading the log: {0}")]
    Store(#[from] StoreError),
    /// The blocking read failed to run.
    #[error("log read task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn wire(e: &EpochEntry) -> EpochStart {
    EpochStart {
        epoch: e.epoch,
        start_offset: e.start.get(),
    }
}

fn store_epoch(e: &EpochStart) -> EpochEntry {
    EpochEntry {
        epoch: e.epoch,
        start: CommitLogOffset::new(e.start_offset),
    }
}

/// The master's current epoch (0 before any).
pub(crate) fn current_epoch(store: &MessageStore) -> u32 {
    store.epochs().last().map_or(0, |e| e.epoch)
}

/// Answers a slave's handshake: where their logs agree, where the master's
/// log starts, and a new session.
///
/// # Errors
/// [`HaError`]: not a master, another group, another segment size, a
/// second session for a slave that is still fetching.
pub(crate) fn handshake(
    config: &BrokerConfig,
    store: &MessageStore,
    replicas: &Arc<Replicas>,
    h: &HaHandshake,
    conn: Option<ferromq_remoting::PeerHandle>,
) -> Result<HaHandshakeResponse, HaError> {
    if h.cluster != config.cluster || h.broker_name != config.broker_name {
        return Err(HaError::Mismatch(format!(
            "slave of {}/{} connected to the master of {}/{}",
            h.cluster, h.broker_name, config.cluster, config.broker_name
        )));
    }
    if h.broker_id == 0 {
        return Err(HaError::Mismatch(
            "a slave has a broker id of 1 or more".into(),
        ));
    }
    if h.segment_size != config.store.segment_size {
        return Err(HaError::Mismatch(format!(
            "slave segment size {} differs from the master's {}: the log is copied byte for byte",
            h.segment_size, config.store.segment_size
        )));
    }
    let epochs = store.epochs();
    let slave: Vec<EpochEntry> = h.epochs.iter().map(store_epoch).collect();
    let agreed = agreed_end(
        &epochs,
        store.flushed_end(),
        &slave,
        CommitLogOffset::new(h.log_end),
    );
    let session = replicas.begin(h.broker_id, &h.addr, conn.clone(), Instant::now())?;
    if let Some(conn) = conn {
        let replicas = replicas.clone();
        tokio::spawn(async move {
            conn.gone().await;
            replicas.disconnected(session);
        });
    }
    tracing::info!(
        slave = h.broker_id,
        addr = %h.addr,
        slave_end = h.log_end,
        agreed = agreed.get(),
        "slave connected"
    );
    Ok(HaHandshakeResponse {
        session,
        master_epoch: current_epoch(store),
        agreed_end: agreed.get(),
        master_min_offset: store.commit_log_min_offset().get(),
        epochs: epochs.iter().map(wire).collect(),
    })
}

/// Answers a fetch: the log from the slave's end, held up to the fetch's
/// hold time while there is nothing new.
///
/// # Errors
/// [`HaError`]: an unknown session, an offset beyond the master's end, a
/// log that cannot be read there.
pub(crate) async fn fetch(
    store: &Arc<MessageStore>,
    replicas: &Replicas,
    arrivals: &Notify,
    f: &HaFetch,
) -> Result<(HaFetchResponse, Bytes), HaError> {
    replicas.fetched(
        f.session,
        f.offset,
        f.flushed,
        store.flushed_end().get(),
        Instant::now(),
    )?;
    let hold = Duration::from_millis(u64::from(f.hold_ms)).min(MAX_HOLD);
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        // Registered before the check, so an arrival in between is seen.
        let arrived = arrivals.notified();
        if store.flushed_end().get() > f.offset || tokio::time::Instant::now() >= deadline {
            break;
        }
        let wait = deadline.min(tokio::time::Instant::now() + RECHECK);
        let _ = tokio::time::timeout_at(wait, arrived).await;
    }
    let max = f.max_bytes.clamp(1, MAX_FETCH_BYTES) as usize;
    let (store2, at) = (store.clone(), CommitLogOffset::new(f.offset));
    let (bytes, _next) = tokio::task::spawn_blocking(move || store2.read_raw(at, max)).await??;
    replicas.sent(f.session, bytes.len() as u64);
    Ok((
        HaFetchResponse {
            offset: f.offset,
            master_end: store.flushed_end().get(),
            master_epoch: current_epoch(store),
        },
        bytes,
    ))
}
