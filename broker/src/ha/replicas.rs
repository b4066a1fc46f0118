//! The master's view of its slaves: how far each has the log, which are in
//! sync, and the sends waiting for enough of them.
//!
//! A slave is *in sync* while it fetches at least every `timeout` and its
//! flushed offset is within `max_gap` bytes of the master's end. It enters
//! the set once it has caught up (its flush covers the master's end at a
//! fetch) and leaves it when it falls behind by more than the gap or goes
//! silent; [`Replicas::sweep`] finds the silent ones. A sync send waits in
//! [`Replicas::wait_replicated`] until `min_in_sync` replicas, the master
//! counted, have its last byte on their flush.
//!
//! Under a controller the in-sync set is the controller's (RocketMQ's
//! SyncStateSet), and a send waits for *every* slave in it
//! ([`Replicas::set_required`]), as Kafka's `acks=all` waits for the whole
//! ISR: the controller elects a new master from that set, so each member
//! must hold every acknowledged message. The local view above then only
//! says which slaves to propose adding or removing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferromq_protocol::header::SlaveStatus;
use ferromq_remoting::PeerHandle;
use parking_lot::Mutex;
use thiserror::Error;
use tokio::sync::watch;

/// Why a replication session or fetch is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum SessionError {
    /// A slave with this broker id is connected and fetching.
    #[error("slave {0} is already connected and fetching; refusing a second session")]
    Duplicate(u64),
    /// The fetch names a session that is not (or no longer) the slave's.
    #[error("unknown or replaced replication session {0}")]
    UnknownSession(u64),
    /// The slave claims an offset beyond the master's end.
    #[error("slave {broker_id} claims offset {offset}, beyond the master's end {master_end}")]
    BeyondEnd {
        broker_id: u64,
        offset: u64,
        master_end: u64,
    },
}

/// Why a sync send was not acknowledged as replicated.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum ReplicationError {
    /// Fewer replicas are in sync than the minimum: the send is not
    /// waited for at all.
    #[error("{in_sync} of the required {needed} replicas are in sync (the master counted)")]
    NotEnoughInSync { in_sync: u32, needed: u32 },
    /// The replicas did not confirm the send within the timeout.
    #[error("{needed} in-sync replicas did not confirm within {} ms", .timeout.as_millis())]
    Timeout { needed: u32, timeout: Duration },
}

struct Slave {
    session: u64,
    /// The session's connection; a slave that reconnects after its old
    /// connection closed gets a new session at once.
    conn: Option<PeerHandle>,
    addr: String,
    offset: u64,
    flushed: u64,
    last_fetch: Instant,
    last_caught_up: Instant,
    in_sync: bool,
    /// Log bytes sent in this session.
    bytes_sent: u64,
}

/// The master's slaves. Shared by the HA port's fetch handlers, the send
/// path (waiting) and the admin's status request.
pub(crate) struct Replicas {
    max_gap: u64,
    timeout: Duration,
    min_in_sync: u32,
    /// By broker id. A plain mutex: held for a map update, never across an
    /// await.
    slaves: Mutex<BTreeMap<u64, Slave>>,
    next_session: Mutex<u64>,
    /// Bumped whenever a slave's flushed offset or the in-sync set changes,
    /// waking the sends waiting for replication.
    changed: watch::Sender<u64>,
    /// When the master's end reached which offset, as fetches saw it: how
    /// old the oldest byte a slave lacks is. The newest [`END_HISTORY`].
    ends: Mutex<std::collections::VecDeque<(Instant, u64)>>,
    /// Under a controller: the slaves every sync send waits for.
    required: Mutex<Option<BTreeSet<u64>>>,
}

/// Samples of the master's end kept for `lag_ms` (a sample per fetch that
/// finds the end moved: seconds of history under load, more when idle).
const END_HISTORY: usize = 8192;

impl Replicas {
    pub(crate) fn new(max_gap: u64, timeout: Duration, min_in_sync: u32) -> Self {
        Self {
            max_gap,
            timeout,
            min_in_sync,
            slaves: Mutex::new(BTreeMap::new()),
            next_session: Mutex::new(1),
            changed: watch::Sender::new(0),
            ends: Mutex::default(),
            required: Mutex::new(None),
        }
    }

    /// Under a controller: sync sends wait for every slave in `set` (the
    /// controller's in-sync set without the master, or that set joined
    /// with the one being proposed while a change is pending).
    pub(crate) fn set_required(&self, set: BTreeSet<u64>) {
        let mut r = self.required.lock();
        if r.as_ref() != Some(&set) {
            tracing::info!(slaves = ?set, "sync sends now wait for these slaves");
            *r = Some(set);
            drop(r);
            self.changed.send_modify(|g| *g += 1);
        }
    }

    /// Slaves that are in sync by the local rule (caught up, within the
    /// gap, fetching).
    pub(crate) fn in_sync_ids(&self) -> BTreeSet<u64> {
        self.slaves
            .lock()
            .iter()
            .filter(|(_, s)| s.in_sync)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The master's end is `end` at `now`.
    fn saw_end(&self, end: u64, now: Instant) {
        let mut ends = self.ends.lock();
        if ends.back().is_some_and(|(_, e)| *e >= end) {
            return;
        }
        if ends.len() == END_HISTORY {
            ends.pop_front();
        }
        ends.push_back((now, end));
    }

    /// How long ago the master's end first passed `flushed` (the age of
    /// the oldest byte a slave at `flushed` lacks); `None` when that is
    /// older than the history.
    fn age_of_first_after(&self, flushed: u64, now: Instant) -> Option<Duration> {
        let ends = self.ends.lock();
        let i = ends.partition_point(|(_, e)| *e <= flushed);
        if i == 0 && ends.front().is_some_and(|(_, e)| *e > flushed) {
            // Older than the oldest sample.
            return None;
        }
        let at = ends.get(i).map_or(now, |(t, _)| *t);
        Some(now.saturating_duration_since(at))
    }

    /// Replicas a sync send needs, the master counted.
    pub(crate) fn min_in_sync(&self) -> u32 {
        self.min_in_sync
    }

    /// Starts a session for slave `broker_id` on `conn`, replacing an old
    /// one whose connection closed or that has gone silent; refuses a
    /// second one while the first still fetches on an open connection.
    ///
    /// # Errors
    /// [`SessionError::Duplicate`].
    pub(crate) fn begin(
        &self,
        broker_id: u64,
        addr: &str,
        conn: Option<PeerHandle>,
        now: Instant,
    ) -> Result<u64, SessionError> {
        let mut slaves = self.slaves.lock();
        if let Some(s) = slaves.get(&broker_id) {
            let open = s.conn.as_ref().is_none_or(|c| !c.is_closed());
            if open && now.saturating_duration_since(s.last_fetch) < self.timeout {
                return Err(SessionError::Duplicate(broker_id));
            }
        }
        let session = {
            let mut n = self.next_session.lock();
            *n += 1;
            *n
        };
        slaves.insert(
            broker_id,
            Slave {
                session,
                conn,
                addr: addr.to_string(),
                offset: 0,
                flushed: 0,
                last_fetch: now,
                last_caught_up: now,
                in_sync: false,
                bytes_sent: 0,
            },
        );
        drop(slaves);
        self.changed.send_modify(|g| *g += 1);
        Ok(session)
    }

    /// Records a fetch: the slave's log goes to `offset` and its flush
    /// covers `flushed`, with the master's flushed end at `master_end`.
    ///
    /// # Errors
    /// An unknown session, or offsets beyond the master's end.
    pub(crate) fn fetched(
        &self,
        session: u64,
        offset: u64,
        flushed: u64,
        master_end: u64,
        now: Instant,
    ) -> Result<u64, SessionError> {
        self.saw_end(master_end, now);
        let mut slaves = self.slaves.lock();
        let (id, slave) = slaves
            .iter_mut()
            .find(|(_, s)| s.session == session)
            .ok_or(SessionError::UnknownSession(session))?;
        if offset > master_end || flushed > offset {
            return Err(SessionError::BeyondEnd {
                broker_id: *id,
                offset: offset.max(flushed),
                master_end,
            });
        }
        let id = *id;
        let was = (slave.flushed, slave.in_sync);
        slave.offset = offset;
        slave.flushed = flushed;
        slave.last_fetch = now;
        if flushed >= master_end {
            slave.last_caught_up = now;
            slave.in_sync = true;
        } else if master_end - flushed > self.max_gap {
            slave.in_sync = false;
        }
        let now_state = (slave.flushed, slave.in_sync);
        drop(slaves);
        if was != now_state {
            if was.1 != now_state.1 {
                tracing::info!(
                    slave = id,
                    in_sync = now_state.1,
                    "slave's in-sync state changed"
                );
            }
            self.changed.send_modify(|g| *g += 1);
        }
        Ok(id)
    }

    /// Counts log bytes sent to a session's slave.
    pub(crate) fn sent(&self, session: u64, bytes: u64) {
        if let Some(s) = self
            .slaves
            .lock()
            .values_mut()
            .find(|s| s.session == session)
        {
            s.bytes_sent += bytes;
        }
    }

    /// A session's connection closed: its slave leaves the in-sync set at
    /// once, so sync sends stop waiting for it.
    pub(crate) fn disconnected(&self, session: u64) {
        let mut left = None;
        if let Some((id, s)) = self
            .slaves
            .lock()
            .iter_mut()
            .find(|(_, s)| s.session == session)
        {
            if s.in_sync {
                s.in_sync = false;
                left = Some(*id);
            }
        }
        if let Some(id) = left {
            tracing::warn!(slave = id, "slave disconnected; it left the in-sync set");
            self.changed.send_modify(|g| *g += 1);
        }
    }

    /// Forgets every slave (this broker stopped or started being a
    /// master): sends waiting for replication see the set shrink.
    pub(crate) fn clear(&self) {
        let had = std::mem::take(&mut *self.slaves.lock());
        if !had.is_empty() {
            tracing::info!(slaves = ?had.keys().collect::<Vec<_>>(), "replication sessions ended");
        }
        self.changed.send_modify(|g| *g += 1);
    }

    /// Takes slaves that stopped fetching out of the in-sync set.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut left = Vec::new();
        for (id, s) in self.slaves.lock().iter_mut() {
            if s.in_sync && now.saturating_duration_since(s.last_fetch) >= self.timeout {
                s.in_sync = false;
                left.push(*id);
            }
        }
        if !left.is_empty() {
            tracing::warn!(slaves = ?left, "silent slaves left the in-sync set");
            self.changed.send_modify(|g| *g += 1);
        }
    }

    /// Replicas in sync, the master counted (under a controller: its
    /// in-sync set).
    pub(crate) fn in_sync(&self) -> u32 {
        if let Some(set) = self.required.lock().as_ref() {
            return 1 + set.len() as u32;
        }
        1 + self.slaves.lock().values().filter(|s| s.in_sync).count() as u32
    }

    /// Replicas in sync whose flush covers `end`, replicas in sync, and
    /// how many must cover it; the master counted in each.
    fn confirmed(&self, end: u64) -> (u32, u32, u32) {
        // Locked in the same order as everywhere: required, then slaves.
        let required = self.required.lock();
        let slaves = self.slaves.lock();
        if let Some(set) = required.as_ref() {
            let covered = set
                .iter()
                .filter(|id| slaves.get(id).is_some_and(|s| s.flushed >= end))
                .count() as u32;
            let all = 1 + set.len() as u32;
            return (1 + covered, all, all.max(self.min_in_sync));
        }
        let in_sync = slaves.values().filter(|s| s.in_sync);
        let covered = in_sync.clone().filter(|s| s.flushed >= end).count() as u32;
        (1 + covered, 1 + in_sync.count() as u32, self.min_in_sync)
    }

    /// Waits until `min_in_sync` replicas have every byte before `end` on
    /// their flush, up to `timeout`.
    ///
    /// # Errors
    /// [`ReplicationError::NotEnoughInSync`] at once when the in-sync set
    /// is too small; [`ReplicationError::Timeout`] after `timeout`.
    pub(crate) async fn wait_replicated(
        &self,
        end: u64,
        timeout: Duration,
    ) -> Result<(), ReplicationError> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (covered, in_sync, needed) = self.confirmed(end);
            if covered >= needed {
                return Ok(());
            }
            if in_sync < self.min_in_sync {
                return Err(ReplicationError::NotEnoughInSync { in_sync, needed });
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(ReplicationError::Timeout { needed, timeout }),
            }
        }
    }

    /// Each slave as `haStatus` shows it.
    pub(crate) fn status(&self, master_end: u64, now: Instant) -> Vec<SlaveStatus> {
        self.slaves
            .lock()
            .iter()
            .map(|(id, s)| SlaveStatus {
                broker_id: *id,
                addr: s.addr.clone(),
                offset: s.offset,
                flushed: s.flushed,
                lag_bytes: master_end.saturating_sub(s.flushed),
                silent_ms: now.saturating_duration_since(s.last_fetch).as_millis() as u64,
                lag_ms: if s.flushed >= master_end {
                    0
                } else {
                    self.age_of_first_after(s.flushed, now)
                        .unwrap_or_else(|| now.saturating_duration_since(s.last_caught_up))
                        .as_millis() as u64
                },
                bytes_sent: s.bytes_sent,
                in_sync: s.in_sync,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: u64 = 1000;
    const TIMEOUT: Duration = Duration::from_secs(5);

    #[test]
    fn a_slave_joins_when_caught_up_and_leaves_past_the_gap_or_when_silent() {
        let r = Replicas::new(GAP, TIMEOUT, 2);
        let t0 = Instant::now();
        let s = r.begin(1, "a:1", None, t0).unwrap();
        assert_eq!(r.in_sync(), 1);
        r.fetched(s, 500, 500, 900, t0).unwrap();
        assert_eq!(r.in_sync(), 1, "not caught up yet");
        r.fetched(s, 900, 900, 900, t0).unwrap();
        assert_eq!(r.in_sync(), 2);
        r.fetched(s, 900, 900, 1800, t0).unwrap();
        assert_eq!(r.in_sync(), 2, "within the gap");
        r.fetched(s, 900, 900, 1901, t0).unwrap();
        assert_eq!(r.in_sync(), 1, "past the gap");
        r.fetched(s, 1901, 1901, 1901, t0).unwrap();
        assert_eq!(r.in_sync(), 2);
        r.sweep(t0 + TIMEOUT - Duration::from_millis(1));
        assert_eq!(r.in_sync(), 2);
        r.sweep(t0 + TIMEOUT);
        assert_eq!(r.in_sync(), 1, "silent");
        let st = r.status(2000, t0 + TIMEOUT);
        assert_eq!(st.len(), 1);
        assert_eq!(
            (st[0].broker_id, st[0].lag_bytes, st[0].in_sync),
            (1, 99, false)
        );
    }

    #[test]
    fn sessions_are_exclusive_while_fetching_and_bad_claims_are_refused() {
        let r = Replicas::new(GAP, TIMEOUT, 2);
        let t0 = Instant::now();
        let s = r.begin(1, "a:1", None, t0).unwrap();
        assert_eq!(r.begin(1, "a:1", None, t0), Err(SessionError::Duplicate(1)));
        assert!(matches!(
            r.fetched(s, 2000, 0, 1000, t0),
            Err(SessionError::BeyondEnd { broker_id: 1, .. })
        ));
        assert!(matches!(
            r.fetched(s, 10, 20, 1000, t0),
            Err(SessionError::BeyondEnd { .. })
        ));
        // A connection that closed frees the slave id at once.
        let closed = PeerHandle::detached(([127, 0, 0, 1], 1).into());
        let r2 = Replicas::new(GAP, TIMEOUT, 2);
        r2.begin(2, "b:1", Some(closed), t0).unwrap();
        assert!(r2.begin(2, "b:1", None, t0).is_ok());
        let s2 = r.begin(1, "a:1", None, t0 + TIMEOUT).unwrap();
        r.fetched(s2, 1000, 1000, 1000, t0 + TIMEOUT).unwrap();
        assert_eq!(r.in_sync(), 2);
        r.disconnected(s2);
        assert_eq!(r.in_sync(), 1, "a closed connection leaves at once");
        r.disconnected(s);
        assert_eq!(r.in_sync(), 1, "a replaced session changes nothing");
        assert_ne!(s, s2);
        assert_eq!(
            r.fetched(s, 0, 0, 1000, t0 + TIMEOUT),
            Err(SessionError::UnknownSession(s)),
            "the replaced session is gone"
        );
        assert_eq!(r.fetched(s2, 0, 0, 1000, t0 + TIMEOUT), Ok(1));
        assert_eq!(r.in_sync(), 1, "rejoins only once caught up");
    }

    #[tokio::test]
    async fn a_sync_send_waits_for_the_slave_or_fails_clearly() {
        let r = std::sync::Arc::new(Replicas::new(GAP, TIMEOUT, 2));
        let t0 = Instant::now();
        assert_eq!(
            r.wait_replicated(100, TIMEOUT).await,
            Err(ReplicationError::NotEnoughInSync {
                in_sync: 1,
                needed: 2
            })
        );
        let s = r.begin(1, "a:1", None, t0).unwrap();
        r.fetched(s, 100, 100, 100, t0).unwrap();
        assert_eq!(r.wait_replicated(100, TIMEOUT).await, Ok(()));

        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.wait_replicated(250, TIMEOUT).await }
        });
        r.fetched(s, 200, 200, 250, t0).unwrap();
        assert!(!waiter.is_finished());
        r.fetched(s, 250, 250, 250, t0).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(()));

        let short = Duration::from_millis(20);
        assert_eq!(
            r.wait_replicated(300, short).await,
            Err(ReplicationError::Timeout {
                needed: 2,
                timeout: short
            })
        );
        let single = Replicas::new(GAP, TIMEOUT, 1);
        assert_eq!(single.wait_replicated(u64::MAX, short).await, Ok(()));
    }

    #[tokio::test]
    async fn under_a_controller_a_send_waits_for_every_slave_of_its_set() {
        let r = std::sync::Arc::new(Replicas::new(GAP, TIMEOUT, 2));
        let t0 = Instant::now();
        let s1 = r.begin(1, "a:1", None, t0).unwrap();
        let s2 = r.begin(2, "b:1", None, t0).unwrap();
        r.fetched(s1, 100, 100, 100, t0).unwrap();
        r.fetched(s2, 50, 50, 100, t0).unwrap();
        // Two of three is enough without a controller.
        assert_eq!(r.wait_replicated(100, TIMEOUT).await, Ok(()));
        r.set_required(BTreeSet::from([1, 2]));
        assert_eq!(r.in_sync(), 3);
        let short = Duration::from_millis(20);
        assert_eq!(
            r.wait_replicated(100, short).await,
            Err(ReplicationError::Timeout {
                needed: 3,
                timeout: short
            }),
            "slave 2 lacks it"
        );
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.wait_replicated(100, TIMEOUT).await }
        });
        r.fetched(s2, 100, 100, 100, t0).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(()));
        // A set of the master alone is below the minimum: refused at once.
        r.set_required(BTreeSet::new());
        assert_eq!(
            r.wait_replicated(200, TIMEOUT).await,
            Err(ReplicationError::NotEnoughInSync {
                in_sync: 1,
                needed: 2
            })
        );
        assert_eq!(r.in_sync_ids(), BTreeSet::from([1, 2]));
    }

    #[test]
    fn lag_ms_is_the_age_of_the_oldest_byte_the_slave_lacks() {
        let r = Replicas::new(1 << 30, TIMEOUT, 2);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let s = r.begin(1, "a:1", None, t0).unwrap();
        r.fetched(s, 0, 0, 1000, t0).unwrap();
        r.fetched(s, 500, 500, 2000, t0 + ms(100)).unwrap();
        let lag = |end, at| r.status(end, at)[0].lag_ms;
        // Bytes 500..1000 arrived at t0.
        assert_eq!(lag(2000, t0 + ms(300)), 300);
        r.fetched(s, 1000, 1000, 2000, t0 + ms(350)).unwrap();
        // Bytes 1000..2000 arrived at t0 + 100 ms.
        assert_eq!(lag(2000, t0 + ms(400)), 300);
        r.fetched(s, 2000, 2000, 2000, t0 + ms(450)).unwrap();
        assert_eq!(lag(2000, t0 + ms(500)), 0, "caught up");
    }
}
