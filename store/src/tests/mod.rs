//! Store tests on temp dirs: one scenario per file, shared helpers here.

mod cache;
mod cq_rebuild;
mod crash;
mod delete_topic;
mod dispatch_crash;
mod epochs;
mod flush_timeout;
mod group_commit;
mod index_query;
mod invalid;
mod poison;
mod read_path;
mod read_raw;
mod recovery_scan;
mod recycle;
mod reopen;
mod replicate;
mod replicate_refused;
mod reset;
mod retention;
mod roll_crash;
mod roundtrip;
mod timestamp;
mod torn_tail;
mod truncate;
mod truncate_crash;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferromq_protocol::record::{self, BornInfo, Message, StoredMessage};
use ferromq_protocol::{QueueId, QueueOffset, TopicName};
use parking_lot::{Condvar, Mutex};

use super::scan::scan;
use super::{
    ArrivalListener, FlushMode, MessageStore, ReadStatus, StoreConfig, StoreError, StoreRole,
};

pub(super) const WAIT: Duration = Duration::from_secs(10);

pub(super) fn host() -> SocketAddr {
    "127.0.0.1:10911".parse().unwrap()
}

pub(super) fn topic(name: &str) -> TopicName {
    TopicName::new(name).unwrap()
}

/// Small segments, consume-queue and index files so tests cross many
/// boundaries (and index hashes collide).
pub(super) fn config(dir: &Path, flush: FlushMode) -> StoreConfig {
    let mut c = StoreConfig::new(dir, host());
    c.segment_size = 64 * 1024;
    c.cq_entries_per_file = 16;
    c.index_hash_slots = 16;
    c.index_max_entries = 64;
    c.flush = flush;
    c.async_flush_interval = Duration::from_millis(20);
    c
}

/// Records the last max offset announced per queue and lets tests wait for
/// one, instead of sleeping.
#[derive(Default)]
pub(super) struct Arrivals {
    seen: Mutex<HashMap<(String, u32), u64>>,
    cond: Condvar,
}

impl ArrivalListener for Arrivals {
    fn on_arrival(&self, topic: &TopicName, queue_id: QueueId, max_offset: QueueOffset) {
        let mut seen = self.seen.lock();
        // Not monotonic: a deleted topic starts again at 0.
        seen.insert(
            (topic.as_str().to_string(), queue_id.get()),
            max_offset.get(),
        );
        self.cond.notify_all();
    }
}

impl Arrivals {
    /// Forgets what was announced for a topic (after deleting it).
    pub(super) fn forget(&self, t: &str) {
        self.seen.lock().retain(|(topic, _), _| topic != t);
    }

    pub(super) fn last(&self, t: &str, q: u32) -> u64 {
        self.seen
            .lock()
            .get(&(t.to_string(), q))
            .copied()
            .unwrap_or(0)
    }
}

pub(super) fn open(dir: &Path, flush: FlushMode) -> (Arc<MessageStore>, Arc<Arrivals>) {
    open_with(config(dir, flush))
}

pub(super) fn open_with(c: StoreConfig) -> (Arc<MessageStore>, Arc<Arrivals>) {
    let arrivals = Arc::new(Arrivals::default());
    let store = MessageStore::open(c, arrivals.clone()).unwrap();
    // Tests must not depend on how full the machine's disk is: retention
    // tests set the usage they need (`disk::tests` measures the real one).
    store.set_disk_usage_override(Some(0.0));
    (store, arrivals)
}

pub(super) fn born() -> BornInfo {
    BornInfo {
        timestamp: 1_700_000_000_000,
        host: "10.0.0.1:4000".parse().unwrap(),
        flags: 0,
        reconsume_times: 0,
    }
}

pub(super) fn body(t: &str, q: u32, i: u64) -> Vec<u8> {
    // Varying lengths so records land at irregular offsets.
    let mut b = format!("{t}/{q}/{i}/").into_bytes();
    b.resize(b.len() + (i as usize * 37) % 700, b'x');
    b
}

pub(super) fn encode(t: &TopicName, bodies: &[Vec<u8>]) -> (BytesMut, u32) {
    let mut buf = BytesMut::new();
    for b in bodies {
        let m = Message::new(t.clone(), Bytes::from(b.clone())).with_tags("TagA");
        record::encode(&m, born(), 1 << 20, &mut buf).unwrap();
    }
    (buf, bodies.len() as u32)
}

/// Appends `n` single-record batches to one queue, returns their offsets.
pub(super) async fn append_n(store: &MessageStore, t: &str, q: u32, from: u64, n: u64) {
    let tn = topic(t);
    for i in from..from + n {
        let (buf, count) = encode(&tn, &[body(t, q, i)]);
        let r = store
            .append(&tn, QueueId::new(q), buf, count)
            .await
            .unwrap();
        assert_eq!(r.queue_offset.get(), i, "queue offsets are sequential");
    }
}

/// Polls `done` until it holds; fails the test after `WAIT`. For state
/// that has no listener to wait on (files made by a background thread).
pub(super) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A record with keys and (optionally) a unique id.
pub(super) fn encode_keyed(
    t: &TopicName,
    msgs: &[(Vec<u8>, Vec<String>, Option<String>)],
) -> (BytesMut, u32) {
    let mut buf = BytesMut::new();
    for (b, keys, uniq) in msgs {
        let mut m = Message::new(t.clone(), Bytes::from(b.clone()));
        for k in keys {
            m = m.with_key(k.clone());
        }
        if let Some(u) = uniq {
            m = m.with_property(record::PROPERTY_UNIQ_KEY, u.clone());
        }
        record::encode(&m, born(), 1 << 20, &mut buf).unwrap();
    }
    (buf, msgs.len() as u32)
}

/// As `append_n`, in batches of up to 10 records (fills segments faster).
pub(super) async fn append_batches(store: &MessageStore, t: &str, q: u32, from: u64, n: u64) {
    let tn = topic(t);
    let mut i = from;
    while i < from + n {
        let k = (from + n - i).min(10);
        let bodies: Vec<Vec<u8>> = (i..i + k).map(|j| body(t, q, j)).collect();
        let (buf, count) = encode(&tn, &bodies);
        let r = store
            .append(&tn, QueueId::new(q), buf, count)
            .await
            .unwrap();
        assert_eq!(r.queue_offset.get(), i, "queue offsets are sequential");
        i += k;
    }
}

/// Waits until the dispatcher announced max offset `n` for the queue.
pub(super) fn wait_visible(arrivals: &Arrivals, t: &str, q: u32, n: u64) {
    let deadline = Instant::now() + WAIT;
    let key = (t.to_string(), q);
    let mut seen = arrivals.seen.lock();
    while seen.get(&key).copied().unwrap_or(0) < n {
        let timed_out = arrivals.cond.wait_until(&mut seen, deadline).timed_out();
        assert!(!timed_out, "{t}/{q} never reached {n}");
    }
}

/// Every message of a queue, read in small pulls.
pub(super) fn read_all(store: &MessageStore, t: &str, q: u32) -> Vec<StoredMessage> {
    let tn = topic(t);
    let mut out = Vec::new();
    let mut at = store.min_offset(&tn, QueueId::new(q));
    loop {
        let r = store.read(&tn, QueueId::new(q), at, 7, 64 * 1024).unwrap();
        match r.status {
            ReadStatus::Found => {
                for rec in &r.records {
                    out.push(record::decode(&rec).unwrap());
                }
                assert_eq!(r.next_offset.get(), at.get() + r.records.len() as u64);
                at = r.next_offset;
            }
            ReadStatus::NoNewMessage | ReadStatus::NoQueue => return out,
            other => panic!("unexpected {other:?} at {at}"),
        }
    }
}

/// Asserts the queue holds exactly messages `0..n` written by `append_n`.
pub(super) fn assert_queue(store: &MessageStore, t: &str, q: u32, n: u64) {
    let msgs = read_all(store, t, q);
    assert_eq!(msgs.len() as u64, n, "{t}/{q} message count");
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.queue_offset.get(), i as u64);
        assert_eq!(m.queue_id, QueueId::new(q));
        assert_eq!(m.message.topic.as_str(), t);
        assert_eq!(&m.message.body[..], &body(t, q, i as u64)[..]);
        assert_eq!(m.store_host, host());
    }
}

/// Opens a store as a slave.
pub(super) fn open_slave(dir: &Path, flush: FlushMode) -> (Arc<MessageStore>, Arc<Arrivals>) {
    let (store, arrivals) = open(dir, flush);
    store.set_role(StoreRole::Slave);
    (store, arrivals)
}

/// Copies the master's log to the slave as the HA module does: chunks of
/// about `chunk` bytes from the slave's end, until the slave has every
/// flushed byte. Returns how many chunks it took.
pub(super) async fn replicate(master: &MessageStore, slave: &MessageStore, chunk: usize) -> usize {
    let mut n = 0;
    loop {
        let from = slave.log_end();
        let (bytes, next) = master.read_raw(from, chunk).unwrap();
        if bytes.is_empty() {
            assert_eq!(next, from);
            return n;
        }
        let end = slave.append_replicated(from, bytes).await.unwrap();
        assert_eq!(end, next, "the slave's log ends where the chunk did");
        n += 1;
    }
}

/// The whole log as `read_raw` serves it: records and markers.
pub(super) fn raw_log(store: &MessageStore) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = store.commit_log_min_offset();
    loop {
        let (bytes, next) = store.read_raw(at, 1 << 20).unwrap();
        if bytes.is_empty() {
            return out;
        }
        out.extend_from_slice(&bytes);
        at = next;
    }
}

/// Consume queues and log agree: every record in the log is indexed at its
/// queue offset, and no queue holds more than the log.
pub(super) fn assert_consistent(store: &MessageStore) {
    let s = &store.shared;
    let mut per_queue: HashMap<(String, u32), u64> = HashMap::new();
    let from = s.log.bases().first().copied().unwrap_or(0);
    scan(&s.log, from, None, |pos, rec| {
        let cq = s.cqs.get(rec.topic, rec.queue_id).unwrap();
        let e = cq.read(rec.queue_offset.get(), 1).unwrap();
        assert_eq!(e[0].offset, pos, "entry points at the record");
        assert_eq!(e[0].size as usize, rec.size);
        *per_queue
            .entry((rec.topic.to_string(), rec.queue_id.get()))
            .or_default() += 1;
        Ok(())
    })
    .unwrap();
    for cq in s.cqs.all() {
        let n = per_queue
            .get(&(cq.topic().as_str().to_string(), cq.queue_id().get()))
            .copied()
            .unwrap_or(0);
        assert_eq!(
            cq.max() - cq.min(),
            n,
            "{}/{} size matches the log",
            cq.topic(),
            cq.queue_id()
        );
    }
}
