//! An in-memory broker good enough to drive the client: topics, queues of
//! stamped records, long polling, consumer offsets, stats — and knobs to
//! make it fail.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_protocol::header::*;
use ferromq_protocol::record::{self, StoreStamp};
use ferromq_protocol::*;
use parking_lot::Mutex;
use tokio::sync::Notify;

use ferromq_remoting::{PeerHandle, Request, Response};

#[derive(Default)]
struct State {
    topics: HashMap<TopicName, TopicConfig>,
    /// Stamped records per (topic, queue); `min` entries before the first
    /// are gone (simulated retention).
    queues: HashMap<(TopicName, u32), (u64, Vec<Bytes>)>,
    commit_log: u64,
    offsets: HashMap<(GroupName, TopicName, u32), QueueOffset>,
}

pub(crate) struct MockBroker {
    pub(crate) name: BrokerName,
    pub(crate) addr: Mutex<String>,
    state: Mutex<State>,
    arrived: Notify,
    /// Answer this many sends with SystemBusy first.
    pub(crate) fail_sends: AtomicU32,
    /// Answer sends with FlushDiskTimeout.
    pub(crate) flush_timeout: AtomicBool,
    /// Answer sends with NoPermission (see [`Self::wipe_write_perm`]).
    no_write: AtomicBool,
    /// Create unknown topics on send (with 4 queues), like a real broker
    /// with auto-create on; register `TBW102` to announce it.
    pub(crate) auto_create: AtomicBool,
    /// Hold every send this long before answering.
    pub(crate) send_delay_ms: AtomicU64,
    /// Never answer sends while set, keeping the connection open (a hung
    /// broker); see [`Self::hang`].
    hung: AtomicBool,
    unhung: Notify,
    /// Sends held by [`Self::hang`] right now.
    pub(crate) held_sends: AtomicUsize,
    /// Ids of the connections requests came on (server side), to see
    /// re-dials.
    pub(crate) conns: Mutex<BTreeSet<u64>>,
    /// Send requests received.
    pub(crate) sends: AtomicUsize,
    /// Messages in them (a batch counts each).
    pub(crate) messages: AtomicUsize,
    pub(crate) pulls: AtomicUsize,
}

fn err(code: ResponseCode, m: &str) -> Response {
    Response::error(code, m)
}

impl MockBroker {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: BrokerName::new(name).unwrap(),
            addr: Mutex::new(String::new()),
            state: Mutex::default(),
            arrived: Notify::new(),
            fail_sends: AtomicU32::new(0),
            flush_timeout: AtomicBool::new(false),
            no_write: AtomicBool::new(false),
            auto_create: AtomicBool::new(false),
            send_delay_ms: AtomicU64::new(0),
            hung: AtomicBool::new(false),
            unhung: Notify::new(),
            held_sends: AtomicUsize::new(0),
            conns: Mutex::default(),
            sends: AtomicUsize::new(0),
            messages: AtomicUsize::new(0),
            pulls: AtomicUsize::new(0),
        }
    }

    pub(crate) fn topics(&self) -> Vec<TopicConfig> {
        self.state.lock().topics.values().cloned().collect()
    }

    pub(crate) fn create_topic(&self, topic: &str, queues: u32) {
        let name = TopicName::new(topic).unwrap();
        self.state.lock().topics.insert(
            name.clone(),
            TopicConfig {
                name,
                read_queues: queues,
                write_queues: queues,
                perm: PERM_READ_WRITE,
            },
        );
    }

    /// Refuses sends from now on and takes write permission off every
    /// topic, as a real broker does on `WipeWritePerm` (the NameServer
    /// sees the new permissions at once; client caches do not).
    pub(crate) fn wipe_write_perm(&self) {
        self.no_write.store(true, Ordering::SeqCst);
        for c in self.state.lock().topics.values_mut() {
            c.perm &= !PERM_WRITE;
        }
    }

    /// Undoes [`Self::wipe_write_perm`].
    pub(crate) fn add_write_perm(&self) {
        self.no_write.store(false, Ordering::SeqCst);
        for c in self.state.lock().topics.values_mut() {
            c.perm |= PERM_WRITE;
        }
    }

    /// Drops the first `n` messages of a queue, as retention would.
    pub(crate) fn expire(&self, topic: &str, queue: u32, n: u64) {
        let mut s = self.state.lock();
        let (min, recs) = s
            .queues
            .entry((TopicName::new(topic).unwrap(), queue))
            .or_default();
        let n = n.min(recs.len() as u64);
        recs.drain(..n as usize);
        *min += n;
    }

    pub(crate) fn committed(&self, group: &str, topic: &str, queue: u32) -> Option<u64> {
        let key = (
            GroupName::new(group).unwrap(),
            TopicName::new(topic).unwrap(),
            queue,
        );
        self.state.lock().offsets.get(&key).map(|o| o.get())
    }

    pub(crate) fn max_offset(&self, topic: &TopicName, q: u32) -> u64 {
        let s = self.state.lock();
        s.queues
            .get(&(topic.clone(), q))
            .map_or(0, |(min, r)| min + r.len() as u64)
    }

    fn min_offset(&self, topic: &TopicName, q: u32) -> u64 {
        let s = self.state.lock();
        s.queues.get(&(topic.clone(), q)).map_or(0, |(min, _)| *min)
    }

    fn topic(&self, t: &TopicName) -> Result<TopicConfig, Response> {
        self.state
            .lock()
            .topics
            .get(t)
            .cloned()
            .ok_or_else(|| err(ResponseCode::TopicNotExist, "no such topic"))
    }

    /// Hangs (`true`): sends are read but not answered, the connection
    /// stays open; other requests are still answered. `false` answers the
    /// held sends and the later ones again.
    pub(crate) fn hang(&self, on: bool) {
        self.hung.store(on, Ordering::SeqCst);
        if !on {
            self.unhung.notify_waiters();
        }
    }

    /// Waits while hung, or until the client is gone.
    async fn wait_unhung(&self, conn: &PeerHandle) {
        if !self.hung.load(Ordering::SeqCst) {
            return;
        }
        self.held_sends.fetch_add(1, Ordering::SeqCst);
        loop {
            // Created before the check, so a `hang(false)` in between is
            // not missed.
            let unhung = self.unhung.notified();
            if !self.hung.load(Ordering::SeqCst) {
                break;
            }
            tokio::select! {
                _ = unhung => {}
                _ = conn.gone() => break,
            }
        }
        self.held_sends.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) async fn handle(&self, req: Request) -> Response {
        self.conns.lock().insert(req.conn.id());
        let r = match RequestCode::from_u16(req.code) {
            Some(RequestCode::SendMessage) => {
                self.wait_unhung(&req.conn).await;
                let delay = self.send_delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                self.send(&req)
            }
            Some(RequestCode::PullMessage) => self.pull(&req).await,
            Some(c) => self.admin(c, &req),
            None => Err(err(ResponseCode::RequestCodeNotSupported, "?")),
        };
        r.unwrap_or_else(|e| e)
    }

    fn send(&self, req: &Request) -> Result<Response, Response> {
        let h: SendMessageRequest = decode_header(&req.header).unwrap();
        self.sends.fetch_add(1, Ordering::SeqCst);
        self.messages.fetch_add(h.count as usize, Ordering::SeqCst);
        if self.no_write.load(Ordering::SeqCst) {
            return Err(err(
                ResponseCode::NoPermission,
                "write permission wiped (mock)",
            ));
        }
        if self.auto_create.load(Ordering::SeqCst) && self.topic(&h.topic).is_err() {
            self.create_topic(h.topic.as_str(), 4);
        }
        let config = self.topic(&h.topic)?;
        if h.queue_id.get() >= config.write_queues {
            return Err(err(ResponseCode::BadRequest, "queue out of range"));
        }
        if self
            .fail_sends
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(err(ResponseCode::SystemBusy, "busy (mock)"));
        }
        let store_host: SocketAddr = self.addr.lock().parse().unwrap();
        let mut s = self.state.lock();
        let first_cl = s.commit_log;
        let key = (h.topic.clone(), h.queue_id.get());
        let (min, recs) = s.queues.get(&key).cloned().unwrap_or_default();
        let first_qo = min + recs.len() as u64;
        let mut pos = 0;
        let mut appended = Vec::new();
        while pos < req.body.len() {
            let size = record::parse(&req.body[pos..]).unwrap().size;
            let mut rec = BytesMut::from(&req.body[pos..pos + size]);
            record::stamp(
                &mut rec,
                &StoreStamp {
                    queue_id: h.queue_id,
                    queue_offset: QueueOffset::new(first_qo + appended.len() as u64),
                    commit_log_offset: CommitLogOffset::new(first_cl + pos as u64),
                    // Distinct and increasing, for time lookups.
                    timestamp: 1000 + first_cl + pos as u64,
                    host: store_host,
                },
            );
            appended.push(rec.freeze());
            pos += size;
        }
        assert_eq!(appended.len() as u32, h.count);
        s.commit_log += pos as u64;
        s.queues.entry(key).or_default().1.extend(appended);
        drop(s);
        self.arrived.notify_waiters();
        let code = if self.flush_timeout.load(Ordering::SeqCst) {
            ResponseCode::FlushDiskTimeout
        } else {
            ResponseCode::Success
        };
        Ok(Response::typed(
            code,
            &SendMessageResponse {
                queue_id: h.queue_id,
                queue_offset: QueueOffset::new(first_qo),
                commit_log_offset: CommitLogOffset::new(first_cl),
                store_host,
            },
        ))
    }

    async fn pull(&self, req: &Request) -> Result<Response, Response> {
        let h: PullMessageRequest = decode_header(&req.header).unwrap();
        self.pulls.fetch_add(1, Ordering::SeqCst);
        self.topic(&h.topic)?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(h.hold_ms);
        let q = h.queue_id.get();
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (min, max) = (self.min_offset(&h.topic, q), self.max_offset(&h.topic, q));
            let hdr = |next: u64| PullMessageResponse {
                next_offset: QueueOffset::new(next),
                min_offset: QueueOffset::new(min),
                max_offset: QueueOffset::new(max),
                suggest_which_broker_id: 0,
            };
            let off = h.queue_offset.get();
            if off < min || off > max {
                let next = off.clamp(min, max);
                return Ok(Response::typed(ResponseCode::PullOffsetMoved, &hdr(next)));
            }
            if off < max {
                let s = self.state.lock();
                let recs = &s.queues[&(h.topic.clone(), q)].1;
                let from = (off - min) as usize;
                let to = (from + h.max_messages as usize).min(recs.len());
                let mut body = BytesMut::new();
                for r in &recs[from..to] {
                    body.extend_from_slice(r);
                }
                let next = off + (to - from) as u64;
                return Ok(Response::ok(&hdr(next)).with_body(body.freeze()));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Response::typed(ResponseCode::PullNotFound, &hdr(off)));
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    fn admin(&self, code: RequestCode, req: &Request) -> Result<Response, Response> {
        let hdr = &req.header;
        match code {
            RequestCode::QueryConsumerOffset => {
                let h: QueryConsumerOffsetRequest = decode_header(hdr).unwrap();
                let offset = self
                    .state
                    .lock()
                    .offsets
                    .get(&(h.consumer_group, h.topic, h.queue_id.get()))
                    .copied();
                Ok(Response::ok(&QueryConsumerOffsetResponse { offset }))
            }
            RequestCode::UpdateConsumerOffset => {
                let h: UpdateConsumerOffsetRequest = decode_header(hdr).unwrap();
                let mut s = self.state.lock();
                for e in h.offsets {
                    s.offsets.insert(
                        (h.consumer_group.clone(), e.topic, e.queue_id.get()),
                        e.offset,
                    );
                }
                Ok(Response::ok(&Empty {}))
            }
            RequestCode::GetMaxOffset => {
                let h: GetMaxOffsetRequest = decode_header(hdr).unwrap();
                self.topic(&h.topic)?;
                let offset = QueueOffset::new(self.max_offset(&h.topic, h.queue_id.get()));
                Ok(Response::ok(&OffsetResponse { offset }))
            }
            RequestCode::GetMinOffset => {
                let h: GetMinOffsetRequest = decode_header(hdr).unwrap();
                self.topic(&h.topic)?;
                let offset = QueueOffset::new(self.min_offset(&h.topic, h.queue_id.get()));
                Ok(Response::ok(&OffsetResponse { offset }))
            }
            RequestCode::UpdateTopic => {
                let h: UpdateTopicRequest = decode_header(hdr).unwrap();
                let mut s = self.state.lock();
                s.topics.insert(h.config.name.clone(), h.config);
                Ok(Response::ok(&Empty {}))
            }
            RequestCode::DeleteTopicInBroker => {
                let h: DeleteTopicRequest = decode_header(hdr).unwrap();
                self.state.lock().topics.remove(&h.topic);
                Ok(Response::ok(&Empty {}))
            }
            RequestCode::GetTopicStats => {
                let h: GetTopicStatsRequest = decode_header(hdr).unwrap();
                let c = self.topic(&h.topic)?;
                let queues = (0..c.read_queues)
                    .map(|q| QueueStats {
                        queue_id: QueueId::new(q),
                        min_offset: QueueOffset::new(self.min_offset(&h.topic, q)),
                        max_offset: QueueOffset::new(self.max_offset(&h.topic, q)),
                        last_update_ms: 0,
                    })
                    .collect();
                Ok(Response::ok(&TopicStats { queues }))
            }
            RequestCode::GetConsumeStats => {
                let h: GetConsumeStatsRequest = decode_header(hdr).unwrap();
                let offsets: Vec<_> = self
                    .state
                    .lock()
                    .offsets
                    .iter()
                    .filter(|((g, t, _), _)| {
                        *g == h.consumer_group && h.topic.as_ref().is_none_or(|x| x == t)
                    })
                    .map(|((_, t, q), o)| (t.clone(), *q, *o))
                    .collect();
                let queues = offsets
                    .into_iter()
                    .map(|(t, q, o)| QueueProgress {
                        broker_offset: QueueOffset::new(self.max_offset(&t, q)),
                        topic: t,
                        queue_id: QueueId::new(q),
                        consumer_offset: Some(o),
                    })
                    .collect();
                Ok(Response::ok(&ConsumeStats { queues }))
            }
            RequestCode::QueryMessage => {
                let h: QueryMessageRequest = decode_header(hdr).unwrap();
                self.topic(&h.topic)?;
                let mut found = self.records(&h.topic, |r| match &h.by {
                    QueryBy::Key {
                        key,
                        begin_ms,
                        end_ms,
                        ..
                    } => {
                        r.keys.split(' ').any(|k| k == key)
                            && (*begin_ms..=*end_ms).contains(&r.store_timestamp)
                    }
                    QueryBy::UniqueId(id) => r.property(record::PROPERTY_UNIQ_KEY) == Some(id),
                });
                found.sort_by_key(|(ts, _)| std::cmp::Reverse(*ts));
                if let QueryBy::Key { max, .. } = h.by {
                    found.truncate(max as usize);
                }
                let mut body = BytesMut::new();
                for (_, r) in found {
                    body.extend_from_slice(&r);
                }
                Ok(Response::ok(&QueryMessageResponse { truncated: false })
                    .with_body(body.freeze()))
            }
            RequestCode::ViewMessageById => {
                let h: ViewMessageByIdRequest = decode_header(hdr).unwrap();
                let s = self.state.lock();
                s.queues
                    .values()
                    .flat_map(|(_, recs)| recs)
                    .find(|r| record::parse(r).unwrap().commit_log_offset == h.offset)
                    .map(|r| Response::ok(&Empty {}).with_body(r.clone()))
                    .ok_or_else(|| err(ResponseCode::QueryNotFound, "no message there (mock)"))
            }
            RequestCode::SearchOffsetByTimestamp => {
                let h: SearchOffsetRequest = decode_header(hdr).unwrap();
                self.topic(&h.topic)?;
                let s = self.state.lock();
                let (min, recs) = s
                    .queues
                    .get(&(h.topic.clone(), h.queue_id.get()))
                    .cloned()
                    .unwrap_or_default();
                let i = recs
                    .iter()
                    .position(|r| record::parse(r).unwrap().store_timestamp >= h.timestamp_ms)
                    .unwrap_or(recs.len());
                let offset = QueueOffset::new(min + i as u64);
                Ok(Response::ok(&OffsetResponse { offset }))
            }
            RequestCode::WipeWritePerm | RequestCode::AddWritePerm => {
                if code == RequestCode::WipeWritePerm {
                    let h: WipeWritePermRequest = decode_header(hdr).unwrap();
                    assert_eq!(h.broker_name, self.name);
                    self.wipe_write_perm();
                } else {
                    let h: AddWritePermRequest = decode_header(hdr).unwrap();
                    assert_eq!(h.broker_name, self.name);
                    self.add_write_perm();
                }
                let topics = self.state.lock().topics.len() as u32;
                Ok(Response::ok(&WritePermResponse { topics }))
            }
            RequestCode::GetBrokerRuntimeInfo => {
                let s = self.state.lock();
                Ok(Response::ok(&BrokerRuntimeInfo {
                    version: "mock".into(),
                    cluster: ClusterName::new(crate::mock::CLUSTER).unwrap(),
                    broker_name: self.name.clone(),
                    broker_id: 0,
                    addr: self.addr.lock().clone(),
                    uptime_ms: 1000,
                    put_tps: 1.5,
                    get_tps: 0.0,
                    put_total: self.sends.load(Ordering::SeqCst) as u64,
                    get_total: 0,
                    commit_log_min_offset: 0,
                    commit_log_max_offset: s.commit_log,
                    disk_usage: 0.5,
                    flush_mode: "sync".into(),
                    topics: s.topics.len() as u32,
                    perm: if self.no_write.load(Ordering::SeqCst) {
                        PERM_READ
                    } else {
                        PERM_READ_WRITE
                    },
                    auto_create_topic: self.auto_create.load(Ordering::SeqCst),
                    store_poisoned: false,
                    direct_io: false,
                    log_cache_hits: 0,
                    log_cache_misses: 0,
                    role: "master".into(),
                    epoch: 1,
                    replication: "async".into(),
                    in_sync_replicas: 1,
                    min_in_sync_replicas: 1,
                    ha_addr: String::new(),
                    fenced: false,
                }))
            }
            _ => Err(err(ResponseCode::RequestCodeNotSupported, "?")),
        }
    }

    /// Records of `topic` (all queues) that `keep` accepts, with their
    /// store time.
    fn records(
        &self,
        topic: &TopicName,
        keep: impl Fn(&record::RecordRef<'_>) -> bool,
    ) -> Vec<(u64, Bytes)> {
        let s = self.state.lock();
        s.queues
            .iter()
            .filter(|((t, _), _)| t == topic)
            .flat_map(|(_, (_, recs))| recs)
            .filter_map(|r| {
                let parsed = record::parse(r).unwrap();
                keep(&parsed).then(|| (parsed.store_timestamp, r.clone()))
            })
            .collect()
    }
}
