//! Replication between real broker processes on namespace hosts: a
//! NameServer on host A, the master on host B (10911, HA 10912), its slave
//! on host C (and a second slave on host D for the kill -9 test). The master is killed with SIGKILL under load, the path
//! between master and slave is cut and healed, the slave is restarted.
//!
//! Needs root and iproute2; `FERROMQ_NETNS=skip` skips these tests. Run
//! `cargo build -p ferromq-broker -p ferromq-nameserver --bins` first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromq_client::{
    AdminClient, ClientError, Message, Producer, QueueId, SendStatus, TopicName, PERM_READ_WRITE,
};
use ferromq_protocol::header::SlaveStatus;
use ferromq_protocol::ResponseCode;
use ferromq_remoting::Connection;
use ferromq_tests::acks::{check_acks_on, Ack};
use ferromq_tests::ha_status;
use ferromq_tests::hosts::{Host, Net};
use ferromq_tests::multi::FAST_EXPIRY;
use ferromq_tests::stores::{close_store, log_bytes, open_store};
use ferromq_tests::{binary_path, wait_for, wait_registered, BrokerProcess, NameServerProcess};
use parking_lot::Mutex;
use tempfile::TempDir;

const NAMESRV_PORT: u16 = 9876;
const BROKER_PORT: u16 = 10911;
const HA_PORT: u16 = 10912;
const SLAVE_ID: u64 = 1;
const QUEUES: u32 = 4;

fn net() -> Option<Net> {
    ferromq_tests::init_tracing();
    Net::new()
}

/// A broker group on three hosts. Fields drop in order: the processes,
/// then their hosts (which kill whatever is left in them), then the
/// stores, then the net.
struct Group {
    master: BrokerProcess,
    /// The master's flags, for a restart.
    master_args: Vec<String>,
    slave: Option<BrokerProcess>,
    namesrv: NameServerProcess,
    _a: Host,
    b: Host,
    c: Host,
    master_dir: TempDir,
    slave_dir: TempDir,
    _net: Net,
}

impl Group {
    async fn start(net: Net, master_args: &[&str], slave_args: &[&str]) -> Self {
        let a = net.host("namesrv");
        let b = net.host("master");
        let c = net.host("slave");
        let namesrv = NameServerProcess::start_in(&a, NAMESRV_PORT, FAST_EXPIRY);
        let master_dir = tempfile::tempdir().unwrap();
        let slave_dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--register-interval-ms", "1000"];
        args.extend_from_slice(master_args);
        let master = BrokerProcess::start_clustered_in(
            &b,
            BROKER_PORT,
            master_dir.path(),
            "broker-a",
            namesrv.addr(),
            &args,
        );
        wait_registered(namesrv.addr(), master.broker_addr()).await;
        let mut group = Self {
            master,
            master_args: args.iter().map(|s| s.to_string()).collect(),
            slave: None,
            namesrv,
            _a: a,
            b,
            c,
            master_dir,
            slave_dir,
            _net: net,
        };
        group.start_slave(slave_args);
        group
    }

    fn slave_flags(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "--register-interval-ms",
            "1000",
            "--broker-id",
            "1",
            "--master-addr",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(self.b.addr(HA_PORT));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn start_slave(&mut self, extra: &[&str]) {
        let args = self.slave_flags(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.slave = Some(BrokerProcess::start_clustered_in(
            &self.c,
            BROKER_PORT,
            self.slave_dir.path(),
            "broker-a",
            self.namesrv.addr(),
            &args,
        ));
    }

    /// Starts the master again on its store (after a kill) and waits
    /// until it is registered.
    async fn restart_master(&mut self) {
        let args: Vec<&str> = self.master_args.iter().map(String::as_str).collect();
        self.master = BrokerProcess::start_clustered_in(
            &self.b,
            BROKER_PORT,
            self.master_dir.path(),
            "broker-a",
            self.namesrv.addr(),
            &args,
        );
        wait_registered(self.namesrv.addr(), self.master.broker_addr()).await;
    }

    fn master_addr(&self) -> String {
        self.master.broker_addr().to_string()
    }

    fn slave_addr(&self) -> String {
        self.c.addr(BROKER_PORT)
    }

    /// Creates `name` on the master only and waits until the NameServer
    /// routes it.
    async fn create_topic(&self, name: &str) -> TopicName {
        let topic = TopicName::new(name).unwrap();
        let admin = AdminClient::connect(self.namesrv.addr()).unwrap();
        admin
            .create_topic_on_broker(&self.master_addr(), &topic, QUEUES, QUEUES, PERM_READ_WRITE)
            .await
            .unwrap();
        ferromq_tests::wait_for_route(&admin, &topic, QUEUES).await;
        topic
    }

    fn producer(&self) -> Producer {
        Producer::builder()
            .namesrv_addr(self.namesrv.addr())
            .group("replication-producer")
            .send_timeout(Duration::from_secs(3))
            .build()
            .unwrap()
    }

    /// Waits until the master reports its slave in sync (and returns it).
    async fn wait_in_sync(&self, timeout: Duration) -> SlaveStatus {
        let addr = self.master_addr();
        wait_for("the slave to be in sync", timeout, || {
            let addr = addr.clone();
            async move { slave_status(&addr).await.filter(|s| s.in_sync) }
        })
        .await
    }
}

async fn slave_status(broker: &str) -> Option<SlaveStatus> {
    ha_status(broker)
        .await?
        .slaves
        .into_iter()
        .find(|s| s.broker_id == SLAVE_ID)
}

/// What the producer tasks saw.
#[derive(Default)]
struct Tally {
    acks: Mutex<Vec<Ack>>,
    ok: AtomicUsize,
    other_status: AtomicUsize,
    errors_before_kill: AtomicUsize,
    errors_after_kill: AtomicUsize,
    killed: AtomicBool,
    stop: AtomicBool,
}

async fn produce(p: Arc<Producer>, topic: TopicName, task: usize, tally: Arc<Tally>) {
    let mut i = 0u64;
    while !tally.stop.load(Ordering::Relaxed) {
        let body = Bytes::from(format!("t{task}-{i:07}-{}", "r".repeat(200)));
        i += 1;
        match p.send(Message::new(topic.clone(), body.clone())).await {
            Ok(r) if r.status == SendStatus::Ok => {
                tally.acks.lock().push(Ack {
                    offset: r.msg_id.offset().get(),
                    queue_id: r.queue_id,
                    queue_offset: r.queue_offset,
                    body,
                });
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                tally.other_status.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) if tally.killed.load(Ordering::Relaxed) => {
                tally.errors_after_kill.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!("send failed before the kill: {e}");
                tally.errors_before_kill.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_replication_survives_kill_9_of_the_master() {
    const PRODUCERS: usize = 8;
    const ACKS_BEFORE_KILL: usize = 3000;
    let Some(net) = net() else { return };
    let started = Instant::now();
    // Master and two slaves, each send acknowledged only once both
    // slaves have it: every acknowledged message must be on each.
    let mut g = Group::start(
        net,
        &[
            "--replication",
            "sync",
            "--flush",
            "sync",
            "--min-in-sync-replicas",
            "3",
        ],
        &["--flush", "sync"],
    )
    .await;
    let d = g._net.host("slave2");
    let slave2_dir = tempfile::tempdir().unwrap();
    let mut slave2 = {
        let master_ha = g.b.addr(HA_PORT);
        let args = [
            "--register-interval-ms",
            "1000",
            "--broker-id",
            "2",
            "--flush",
            "sync",
            "--master-addr",
            &master_ha,
        ];
        BrokerProcess::start_clustered_in(
            &d,
            BROKER_PORT,
            slave2_dir.path(),
            "broker-a",
            g.namesrv.addr(),
            &args,
        )
    };
    let topic = g.create_topic("Replicated").await;
    let master = g.master_addr();
    wait_for("both slaves in sync", Duration::from_secs(30), || {
        let m = master.clone();
        async move {
            let st = ha_status(&m).await?;
            (st.slaves.iter().filter(|s| s.in_sync).count() == 2).then_some(())
        }
    })
    .await;

    let tally = Arc::new(Tally::default());
    let p = Arc::new(g.producer());
    let tasks: Vec<_> = (0..PRODUCERS)
        .map(|t| tokio::spawn(produce(p.clone(), topic.clone(), t, tally.clone())))
        .collect();
    wait_for(
        "acknowledged sends before the kill",
        Duration::from_secs(240),
        || async { (tally.ok.load(Ordering::Relaxed) >= ACKS_BEFORE_KILL).then_some(()) },
    )
    .await;
    let acked_at_kill = tally.ok.load(Ordering::Relaxed);
    tally.killed.store(true, Ordering::Relaxed);
    g.master.kill9();
    // Sends in flight at the kill fail; one more round each shows the
    // producers no longer reach a master.
    let failed_before = tally.errors_after_kill.load(Ordering::Relaxed);
    wait_for(
        "sends to fail after the kill",
        Duration::from_secs(30),
        || {
            let t = tally.clone();
            async move {
                (t.errors_after_kill.load(Ordering::Relaxed) >= failed_before + PRODUCERS)
                    .then_some(())
            }
        },
    )
    .await;
    tally.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let mut slave = g.slave.take().unwrap();
    assert!(slave.terminate(), "the slave exits cleanly on SIGTERM");
    assert!(
        slave2.terminate(),
        "the second slave exits cleanly on SIGTERM"
    );
    drop(slave);

    let acks = tally.acks.lock().clone();
    let mut found = 0;
    let mut slave_ends = Vec::new();
    for dir in [g.slave_dir.path(), slave2_dir.path()] {
        let (n, end) = check_acks_on(dir, &acks, &topic).await;
        found += n;
        slave_ends.push(end);
    }
    println!(
        "acked {} (at kill {acked_at_kill}), found on the two slaves {found}, other status {}, \
         errors before kill {}, after kill {}, slave log ends {slave_ends:?}, took {:?}",
        acks.len(),
        tally.other_status.load(Ordering::Relaxed),
        tally.errors_before_kill.load(Ordering::Relaxed),
        tally.errors_after_kill.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert!(acks.len() >= ACKS_BEFORE_KILL);
    assert_eq!(
        found,
        2 * acks.len(),
        "every acknowledged message on each slave"
    );
    drop((slave2, d));
}

/// Sends one message; the whole result.
async fn send_one(p: &Producer, topic: &TopicName, body: &str) -> Result<SendStatus, ClientError> {
    p.send(Message::new(topic.clone(), body.to_string()))
        .await
        .map(|r| r.status)
}

fn is_slave_not_available(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Server {
            code: ResponseCode::SlaveNotAvailable,
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_slave_leaves_the_in_sync_set_and_sends_fail_until_it_heals() {
    let Some(net) = net() else { return };
    let started = Instant::now();
    let g = Group::start(
        net,
        &["--replication", "sync", "--ha-in-sync-timeout-ms", "1000"],
        &[],
    )
    .await;
    let topic = g.create_topic("CutSlave").await;
    let master = g.master_addr();
    g.wait_in_sync(Duration::from_secs(30)).await;
    let p = g.producer();
    for i in 0..20 {
        let s = send_one(&p, &topic, &format!("before-{i}")).await.unwrap();
        assert_eq!(s, SendStatus::Ok);
    }

    g.c.cut_from(&g.b);
    let cut_at = Instant::now();
    let out = wait_for(
        "the slave to leave the in-sync set",
        Duration::from_secs(5),
        || {
            let m = master.clone();
            async move { slave_status(&m).await.filter(|s| !s.in_sync) }
        },
    )
    .await;
    let left_after = cut_at.elapsed();
    let end_before = ha_status(&master).await.unwrap().log_end;
    let mut refused = 0;
    for i in 0..10 {
        let e = send_one(&p, &topic, &format!("cut-{i}")).await.unwrap_err();
        assert!(is_slave_not_available(&e), "send {i} while cut: {e}");
        refused += 1;
    }
    let end_after = ha_status(&master).await.unwrap().log_end;
    assert_eq!(end_after, end_before, "refused sends are not stored");

    g.c.heal_from(&g.b);
    let healed_at = Instant::now();
    let back = g.wait_in_sync(Duration::from_secs(30)).await;
    let rejoined_after = healed_at.elapsed();
    for i in 0..20 {
        let s = send_one(&p, &topic, &format!("after-{i}")).await.unwrap();
        assert_eq!(s, SendStatus::Ok, "send {i} after the heal");
    }
    let st = ha_status(&master).await.unwrap();
    let s = st.slaves.iter().find(|s| s.broker_id == SLAVE_ID).unwrap();
    assert!(s.in_sync && s.flushed >= end_after, "{st:?}");
    assert_eq!(s.addr, g.slave_addr());
    println!(
        "left the in-sync set {left_after:?} after the cut ({out:?}), {refused} sends refused, \
         log end stayed {end_before}; rejoined {rejoined_after:?} after the heal ({back:?}); \
         master end {}, took {:?}",
        st.log_end,
        started.elapsed()
    );
}

/// A broker process started by the test itself, its log in a file, so the
/// test can read what it said about where replication resumed.
struct LoggedSlave {
    child: Child,
    log: std::path::PathBuf,
}

impl LoggedSlave {
    fn start(g: &Group, log: std::path::PathBuf) -> Self {
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = g.c.command(binary_path("mqbroker"));
        cmd.args(["--listen", &g.slave_addr(), "--broker-name", "broker-a"])
            .args(["--namesrv-addr", g.namesrv.addr(), "--store-dir"])
            .arg(g.slave_dir.path())
            .arg("--config")
            // Written by the first start through `BrokerProcess`.
            .arg(g.slave_dir.path().join("test-broker.toml"))
            // No --master-addr this time: the slave asks the NameServer
            // for its group's id 0 and takes its port + 1.
            .args(["--register-interval-ms", "1000", "--broker-id", "1"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(file);
        Self {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    /// SIGTERM, and waits for it to exit; whether it exited 0.
    fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        sent && self.child.wait().is_ok_and(|s| s.success())
    }

    /// The first log line containing `marker`, once it is there.
    async fn line(&self, marker: &str) -> String {
        wait_for(marker, Duration::from_secs(30), || async {
            let text = std::fs::read_to_string(&self.log).ok()?;
            text.lines()
                .find(|l| l.contains(marker))
                .map(str::to_string)
        })
        .await
    }
}

impl Drop for LoggedSlave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, key: &str) -> Option<u64> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_slave_resumes_without_recopying() {
    let Some(net) = net() else { return };
    let started = Instant::now();
    let mut g = Group::start(net, &["--replication", "async"], &[]).await;
    let topic = g.create_topic("Restart").await;
    let master = g.master_addr();
    g.wait_in_sync(Duration::from_secs(30)).await;
    let p = g.producer();
    let body = "s".repeat(1000);
    for i in 0..500 {
        let s = send_one(&p, &topic, &format!("{i}-{body}")).await.unwrap();
        assert_eq!(s, SendStatus::Ok);
    }
    let end1 = ha_status(&master).await.unwrap().log_end;
    wait_for(
        "the slave to copy the first part",
        Duration::from_secs(30),
        || {
            let m = master.clone();
            async move { slave_status(&m).await.filter(|s| s.flushed >= end1) }
        },
    )
    .await;
    let mut slave = g.slave.take().unwrap();
    assert!(slave.terminate(), "the slave exits cleanly on SIGTERM");
    drop(slave);

    for i in 0..500 {
        let s = send_one(&p, &topic, &format!("more-{i}-{body}"))
            .await
            .unwrap();
        assert_eq!(s, SendStatus::Ok);
    }
    let end2 = ha_status(&master).await.unwrap().log_end;
    assert!(end2 > end1);

    let log = g.master_dir.path().join("restarted-slave.log");
    let restarted = LoggedSlave::start(&g, log);
    let resumed = restarted.line("replicating from the master").await;
    let from = field(&resumed, "from=").unwrap_or_else(|| panic!("no from= in {resumed:?}"));
    assert_eq!(
        from, end1,
        "the restarted slave resumes where its log ended: {resumed}"
    );
    let caught_up = wait_for("the slave to catch up", Duration::from_secs(30), || {
        let m = master.clone();
        async move {
            slave_status(&m)
                .await
                .filter(|s| s.in_sync && s.flushed >= end2)
        }
    })
    .await;
    // The master sent the restarted slave exactly what it lacked.
    assert_eq!(
        caught_up.bytes_sent,
        end2 - from,
        "bytes sent after the restart: nothing copied twice"
    );
    let mut restarted = restarted;
    assert!(restarted.terminate(), "the slave exits cleanly on SIGTERM");

    // Its log is the master's, byte for byte, and no longer.
    assert!(g.master.terminate(), "the master exits cleanly on SIGTERM");
    let slave_store = open_store(g.slave_dir.path()).await;
    let master_store = open_store(g.master_dir.path()).await;
    assert_eq!(slave_store.log_end().get(), end2);
    assert_eq!(master_store.log_end().get(), end2);
    assert!(
        log_bytes(&master_store, end2) == log_bytes(&slave_store, end2),
        "the slave's log equals the master's"
    );
    close_store(slave_store).await;
    close_store(master_store).await;
    println!(
        "first part {end1} bytes, restart resumed from {from}, copied {} bytes after the \
         restart, log end {end2}, took {:?}",
        end2 - from,
        started.elapsed()
    );
}

/// The group's committed offset of each queue of `topic` at `broker`;
/// `None` while the broker cannot answer.
async fn committed_offsets(broker: &str, group: &str, topic: &TopicName) -> Option<Vec<u64>> {
    use ferromq_protocol::header::QueryConsumerOffsetRequest;
    let conn = Connection::connect(broker, Duration::from_secs(1))
        .await
        .ok()?;
    let mut out = Vec::new();
    for q in 0..QUEUES {
        let req = QueryConsumerOffsetRequest {
            consumer_group: ferromq_client::GroupName::new(group).unwrap(),
            topic: topic.clone(),
            queue_id: QueueId::new(q),
        };
        let got = conn
            .call(&req, Bytes::new(), Duration::from_secs(2))
            .await
            .ok()?;
        out.push(got.header.offset.map_or(0, |o| o.get()));
    }
    Some(out)
}

/// Every delivery: (queue, queue offset, body).
type Deliveries = Arc<Mutex<Vec<(u32, u64, String)>>>;

/// Holds a listener after `allowed` deliveries until opened.
#[derive(Default)]
struct Gate {
    open: parking_lot::Mutex<bool>,
    opened: parking_lot::Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock();
        while !*open {
            self.opened.wait(&mut open);
        }
    }

    fn open(&self) {
        *self.open.lock() = true;
        self.opened.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_consumer_reads_from_the_slave_while_the_master_is_down() {
    const BEFORE: usize = 400;
    const AFTER: usize = 100;
    const HELD_AFTER: usize = 100;
    const PULL_BATCH: u32 = 8;
    const GROUP: &str = "slave-readers";
    let Some(net) = net() else { return };
    let started = Instant::now();
    let mut g = Group::start(net, &["--replication", "async"], &[]).await;
    let topic = g.create_topic("ReadFromSlave").await;
    let master = g.master_addr();
    let slave = g.slave_addr();
    g.wait_in_sync(Duration::from_secs(30)).await;
    let p = g.producer();
    for i in 0..BEFORE {
        let s = send_one(&p, &topic, &format!("a-{i:04}")).await.unwrap();
        assert_eq!(s, SendStatus::Ok);
    }
    let end = ha_status(&master).await.unwrap().log_end;
    wait_for(
        "the slave to copy the backlog",
        Duration::from_secs(30),
        || {
            let m = master.clone();
            async move { slave_status(&m).await.filter(|s| s.flushed >= end) }
        },
    )
    .await;

    // A consumer that is held after HELD_AFTER deliveries, with small pull
    // batches and buffers, so most of the backlog is still on the brokers
    // when the master dies.
    let deliveries: Deliveries = Arc::default();
    let gate = Arc::new(Gate::default());
    let (d, gt) = (deliveries.clone(), gate.clone());
    let consumer = ferromq_client::PushConsumer::builder()
        .namesrv_addr(g.namesrv.addr())
        .group(GROUP)
        .subscribe(topic.as_str(), "*")
        .consume_from(ferromq_client::ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_millis(500))
        .heartbeat_interval(Duration::from_secs(1))
        .offset_persist_interval(Duration::from_millis(200))
        .long_poll_hold(Duration::from_secs(2))
        .pull_batch_size(PULL_BATCH)
        .max_cached_messages_per_queue(PULL_BATCH as usize)
        .consume_threads(2)
        .listener_concurrently(move |msgs| {
            let seen = {
                let mut v = d.lock();
                for m in msgs {
                    v.push((
                        m.queue_id.get(),
                        m.queue_offset.get(),
                        String::from_utf8_lossy(&m.message.body).into_owned(),
                    ));
                }
                v.len()
            };
            if seen > HELD_AFTER {
                gt.wait();
            }
            ferromq_client::ConsumeResult::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("the first deliveries", Duration::from_secs(30), || async {
        (deliveries.lock().len() > HELD_AFTER).then_some(())
    })
    .await;
    g.master.kill9();
    let killed_at = Instant::now();
    let delivered_at_kill = deliveries.lock().len();
    gate.open();

    // The rest of the backlog comes from the slave, and the group commits
    // its progress there.
    let bodies = |d: &Deliveries| -> std::collections::BTreeSet<String> {
        d.lock().iter().map(|(_, _, b)| b.clone()).collect()
    };
    wait_for(
        "the backlog consumed from the slave",
        Duration::from_secs(60),
        || async { (bodies(&deliveries).len() >= BEFORE).then_some(()) },
    )
    .await;
    let drained_after = killed_at.elapsed();
    let admin = AdminClient::connect(g.namesrv.addr()).unwrap();
    let max: Vec<u64> = {
        let conn = Connection::connect(&slave, Duration::from_secs(2))
            .await
            .unwrap();
        let mut v = Vec::new();
        for q in 0..QUEUES {
            let req = ferromq_protocol::header::GetMaxOffsetRequest {
                topic: topic.clone(),
                queue_id: QueueId::new(q),
            };
            let got = conn
                .call(&req, Bytes::new(), Duration::from_secs(2))
                .await
                .unwrap();
            v.push(got.header.offset.get());
        }
        v
    };
    assert_eq!(max.iter().sum::<u64>(), BEFORE as u64);
    let on_slave = wait_for(
        "the group's progress committed on the slave",
        Duration::from_secs(10),
        || {
            let (slave, topic, max) = (slave.clone(), topic.clone(), max.clone());
            async move {
                committed_offsets(&slave, GROUP, &topic)
                    .await
                    .filter(|c| *c == max)
            }
        },
    )
    .await;
    let slave_gets = admin.broker_runtime_info(&slave).await.unwrap().get_total;
    assert!(
        // At most a full window and one pull per queue were buffered
        // from the master.
        slave_gets as usize >= BEFORE - delivered_at_kill - 2 * (PULL_BATCH * QUEUES) as usize,
        "the slave served the rest of the backlog: {slave_gets} messages"
    );

    // The master comes back: it takes the progress made on the slave, and
    // the consumer goes back to it.
    g.restart_master().await;
    let merged = wait_for(
        "the master to hold the progress made on the slave",
        Duration::from_secs(15),
        || {
            let (master, topic, on_slave) = (master.clone(), topic.clone(), on_slave.clone());
            async move {
                committed_offsets(&master, GROUP, &topic)
                    .await
                    .filter(|c| c.iter().zip(&on_slave).all(|(m, s)| m >= s))
            }
        },
    )
    .await;
    g.wait_in_sync(Duration::from_secs(30)).await;
    let merged_print = merged.clone();
    let floor = Arc::new(Mutex::new(merged));
    let watching = Arc::new(AtomicBool::new(true));
    let backwards = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (master, topic, floor, watching, backwards) = (
            master.clone(),
            topic.clone(),
            floor.clone(),
            watching.clone(),
            backwards.clone(),
        );
        tokio::spawn(async move {
            while watching.load(Ordering::Relaxed) {
                if let Some(now) = committed_offsets(&master, GROUP, &topic).await {
                    let mut f = floor.lock();
                    for (q, (n, before)) in now.iter().zip(f.iter_mut()).enumerate() {
                        if n < before {
                            tracing::error!(
                                queue = q,
                                from = *before,
                                to = *n,
                                "committed offset moved backwards"
                            );
                            backwards.fetch_add(1, Ordering::Relaxed);
                        }
                        *before = (*before).max(*n);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // New messages go to the master; keep sending until the consumer
    // pulls them from the master rather than its slave.
    let sent = AtomicUsize::new(0);
    let master_gets = wait_for(
        "the consumer to pull from the master again",
        Duration::from_secs(30),
        || {
            let (admin, master, p, topic, sent) = (&admin, master.clone(), &p, &topic, &sent);
            async move {
                let i = sent.fetch_add(1, Ordering::Relaxed);
                let s = send_one(p, topic, &format!("b-{i:04}")).await.unwrap();
                assert_eq!(s, SendStatus::Ok);
                let gets = admin.broker_runtime_info(&master).await.ok()?.get_total;
                (gets > 0).then_some(gets)
            }
        },
    )
    .await;
    while sent.load(Ordering::Relaxed) < AFTER {
        let i = sent.fetch_add(1, Ordering::Relaxed);
        let s = send_one(&p, &topic, &format!("b-{i:04}")).await.unwrap();
        assert_eq!(s, SendStatus::Ok);
    }
    let after = sent.load(Ordering::Relaxed);
    wait_for(
        "the new messages consumed",
        Duration::from_secs(60),
        || async { (bodies(&deliveries).len() >= BEFORE + after).then_some(()) },
    )
    .await;
    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();
    consumer.shutdown().await;
    // The consumer's last commit went to the master: all of it consumed.
    let final_offsets = committed_offsets(&master, GROUP, &topic).await.unwrap();
    assert_eq!(
        final_offsets.iter().sum::<u64>(),
        (BEFORE + after) as u64,
        "{final_offsets:?}"
    );
    assert!(final_offsets
        .iter()
        .zip(floor.lock().iter())
        .all(|(f, m)| f >= m));

    let all = deliveries.lock().clone();
    let unique = bodies(&deliveries);
    let expected: std::collections::BTreeSet<String> = (0..BEFORE)
        .map(|i| format!("a-{i:04}"))
        .chain((0..after).map(|i| format!("b-{i:04}")))
        .collect();
    assert_eq!(unique, expected, "every message consumed");
    let duplicates = all.len() - unique.len();
    assert!(
        duplicates <= (PULL_BATCH * QUEUES) as usize,
        "duplicates bounded by the pull batch: {duplicates}"
    );
    assert_eq!(
        backwards.load(Ordering::Relaxed),
        0,
        "committed progress never moved backwards"
    );
    println!(
        "delivered {delivered_at_kill} before the kill, the rest from the slave within \
         {drained_after:?} (slave served {slave_gets}); committed on the slave {on_slave:?}, \
         on the master after its restart {merged_print:?}, at the end {final_offsets:?}; master served {master_gets} after it; \
         {after} sent after it, {duplicates} duplicates; took {:?}",
        started.elapsed()
    );
}
