//! Automatic failover with real processes on namespace hosts: three
//! NameServers with embedded controllers, one broker group of three
//! replicas in controller mode with sync replication. The master is
//! killed with SIGKILL under load: a new master is elected from the
//! in-sync set, sends resume, and every acknowledged message is in every
//! replica's log at its offset. The old master comes back as a slave.
//!
//! Needs root and iproute2; `FERROMQ_NETNS=skip` skips these tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromq_client::{
    AdminClient, Message, Producer, QueueId, QueueOffset, SendStatus, TopicName, PERM_READ_WRITE,
};
use ferromq_controller::ControllerClient;
use ferromq_protocol::header::{GetSyncStateDataRequest, SyncStateData};
use ferromq_protocol::{record, BrokerName};
use ferromq_tests::acks::{check_acks_on, Ack};
use ferromq_tests::hosts::{Host, Net};
use ferromq_tests::multi::FAST_EXPIRY;
use ferromq_tests::stores::{close_store, open_store};
use ferromq_tests::{
    controller_peers, wait_for, BrokerProcess, ControllerProcess, CONTROLLER_PORT,
};
use parking_lot::Mutex;
use tempfile::TempDir;

const BROKER_PORT: u16 = 10911;
const QUEUES: u32 = 4;
const GROUP: &str = "broker-a";

/// Three controller hosts (NameServer + controller each) and three broker
/// hosts. Fields drop in order: processes, hosts, stores, net.
struct Cluster {
    brokers: Vec<Option<BrokerProcess>>,
    controllers_p: Vec<ControllerProcess>,
    broker_hosts: Vec<Host>,
    _controller_hosts: Vec<Host>,
    broker_dirs: Vec<TempDir>,
    _controller_dirs: Vec<TempDir>,
    namesrvs: String,
    controllers: String,
    broker_args: Vec<String>,
    _net: Net,
}

impl Cluster {
    async fn start(net: Net, broker_args: &[&str]) -> Self {
        let controller_hosts: Vec<Host> = (1..=3).map(|i| net.host(&format!("ctl{i}"))).collect();
        let peers = controller_peers(&controller_hosts.iter().collect::<Vec<_>>());
        let controller_dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut ctl_args = vec!["--broker-heartbeat-timeout-ms", "2000"];
        ctl_args.extend_from_slice(FAST_EXPIRY);
        let controllers: Vec<ControllerProcess> = (0..3)
            .map(|i| {
                ControllerProcess::start_in(
                    &controller_hosts[i],
                    i as u64 + 1,
                    &peers,
                    controller_dirs[i].path(),
                    &ctl_args,
                )
            })
            .collect();
        let namesrvs = controllers
            .iter()
            .map(|c| c.namesrv_addr().to_string())
            .collect::<Vec<_>>()
            .join(";");
        let controller_addrs = controller_hosts
            .iter()
            .map(|h| h.addr(CONTROLLER_PORT))
            .collect::<Vec<_>>()
            .join(";");
        let broker_hosts: Vec<Host> = (1..=3).map(|i| net.host(&format!("broker{i}"))).collect();
        let broker_dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut c = Self {
            brokers: vec![None, None, None],
            controllers_p: controllers,
            broker_hosts,
            _controller_hosts: controller_hosts,
            broker_dirs,
            _controller_dirs: controller_dirs,
            namesrvs,
            controllers: controller_addrs,
            broker_args: broker_args.iter().map(|s| s.to_string()).collect(),
            _net: net,
        };
        // The first broker up becomes the first master.
        c.start_broker(0);
        c.wait_group("broker 1 master", |d| {
            d.group.master.as_ref().is_some_and(|m| m.replica_id == 1)
        })
        .await;
        c.start_broker(1);
        c.start_broker(2);
        c
    }

    fn start_broker(&mut self, i: usize) {
        let mut args: Vec<&str> = vec![
            "--register-interval-ms",
            "1000",
            "--controller-addr",
            &self.controllers,
        ];
        args.extend(self.broker_args.iter().map(String::as_str));
        self.brokers[i] = Some(BrokerProcess::start_clustered_in(
            &self.broker_hosts[i],
            BROKER_PORT,
            self.broker_dirs[i].path(),
            GROUP,
            &self.namesrvs,
            &args,
        ));
    }

    /// Every acknowledged send is in every (stopped) replica's store.
    async fn check_acks_everywhere(&self, acks: &[Ack], topic: &TopicName) {
        for (i, dir) in self.broker_dirs.iter().enumerate() {
            let (found, _) = check_acks_on(dir.path(), acks, topic).await;
            assert_eq!(found, acks.len(), "replica on host {i}");
        }
    }

    /// Stops every broker with SIGTERM; each must exit cleanly.
    fn stop_brokers(&mut self) {
        for (i, b) in self.brokers.iter_mut().enumerate() {
            if let Some(b) = b.as_mut() {
                assert!(b.terminate(), "broker {i} exits cleanly");
            }
        }
    }

    async fn wait_all_in_sync(&self) -> SyncStateData {
        self.wait_group("all three replicas in the in-sync set", |d| {
            d.group.sync_state_set.len() == 3
        })
        .await
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut b) = self.brokers[i].take() {
            b.kill9();
        }
    }

    /// Kills the controllers' Raft leader; returns its index.
    async fn kill_controller_leader(&mut self) -> usize {
        let addrs = ControllerClient::parse_addrs(&self.controllers);
        let leader = wait_for("a controller leader", Duration::from_secs(30), || async {
            let one = ControllerClient::new(vec![addrs[0].clone()], Duration::from_secs(1));
            let m = one
                .call(&ferromq_protocol::header::GetControllerMetadataRequest {})
                .await
                .ok()?;
            m.leader_id.map(|l| l as usize - 1)
        })
        .await;
        self.controllers_p[leader].kill9();
        leader
    }

    fn controller_client(&self) -> ControllerClient {
        ControllerClient::new(
            ControllerClient::parse_addrs(&self.controllers),
            Duration::from_secs(2),
        )
    }

    async fn group(&self) -> Option<SyncStateData> {
        self.controller_client()
            .call(&GetSyncStateDataRequest {
                broker_name: BrokerName::new(GROUP).unwrap(),
            })
            .await
            .ok()
    }

    async fn wait_group(&self, what: &str, cond: impl Fn(&SyncStateData) -> bool) -> SyncStateData {
        wait_for(what, Duration::from_secs(60), || async {
            self.group().await.filter(|d| cond(d))
        })
        .await
    }

    /// Index of the broker host of replica `id` (ids follow start order).
    fn index_of(&self, d: &SyncStateData, id: u64) -> usize {
        let addr = &d
            .replicas
            .iter()
            .find(|r| r.replica.replica_id == id)
            .unwrap()
            .replica
            .addr;
        self.broker_hosts
            .iter()
            .position(|h| h.addr(BROKER_PORT) == *addr)
            .unwrap()
    }

    async fn create_topic(&self, master: usize, name: &str) -> TopicName {
        let topic = TopicName::new(name).unwrap();
        let admin = AdminClient::connect(&self.namesrvs).unwrap();
        admin
            .create_topic_on_broker(
                &self.broker_hosts[master].addr(BROKER_PORT),
                &topic,
                QUEUES,
                QUEUES,
                PERM_READ_WRITE,
            )
            .await
            .unwrap();
        ferromq_tests::wait_for_route(&admin, &topic, QUEUES).await;
        topic
    }
}

#[derive(Default)]
struct Tally {
    /// When each acknowledged send was sent, when it was acknowledged.
    acks: Mutex<Vec<(Instant, Instant, Ack)>>,
    ok: AtomicUsize,
    errors: AtomicUsize,
    stop: AtomicBool,
}

/// A group with sync replication and sync flush (and `extra` flags), all
/// three replicas in sync, and `topic` on its master: the cluster, the
/// master's id and index, the group's epoch.
async fn sync_group(
    net: Net,
    extra: &[&str],
    topic: &str,
) -> (Cluster, u64, usize, u32, TopicName) {
    let mut args = vec!["--replication", "sync", "--flush", "sync"];
    args.extend_from_slice(extra);
    let c = Cluster::start(net, &args).await;
    let d = c.wait_all_in_sync().await;
    let (master_id, e0) = (d.group.master.as_ref().unwrap().replica_id, d.group.epoch);
    let master = c.index_of(&d, master_id);
    let topic = c.create_topic(master, topic).await;
    (c, master_id, master, e0, topic)
}

impl Tally {
    /// Every acknowledged send so far.
    fn acked(&self) -> Vec<Ack> {
        self.acks.lock().iter().map(|(_, _, a)| a.clone()).collect()
    }
}

/// Producer tasks sending to a topic until stopped.
struct Load {
    tally: Arc<Tally>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(c: &Cluster, group: &str, topic: &TopicName, producers: usize) -> Self {
        let tally = Arc::new(Tally::default());
        let p = Arc::new(
            Producer::builder()
                .namesrv_addr(&c.namesrvs)
                .group(group)
                .send_timeout(Duration::from_secs(3))
                .build()
                .unwrap(),
        );
        let tasks = (0..producers)
            .map(|t| tokio::spawn(produce(p.clone(), topic.clone(), t, tally.clone())))
            .collect();
        Self { tally, tasks }
    }

    async fn stop(&mut self) {
        self.tally.stop.store(true, Ordering::Relaxed);
        for t in self.tasks.drain(..) {
            t.await.unwrap();
        }
    }
}

async fn produce(p: Arc<Producer>, topic: TopicName, task: usize, tally: Arc<Tally>) {
    let mut i = 0u64;
    while !tally.stop.load(Ordering::Relaxed) {
        let body = Bytes::from(format!("t{task}-{i:07}-{}", "f".repeat(100)));
        i += 1;
        let sent = Instant::now();
        match p.send(Message::new(topic.clone(), body.clone())).await {
            Ok(r) if r.status == SendStatus::Ok => {
                tally.acks.lock().push((
                    sent,
                    Instant::now(),
                    Ack {
                        offset: r.msg_id.offset().get(),
                        queue_id: r.queue_id,
                        queue_offset: r.queue_offset,
                        body,
                    },
                ));
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) | Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                // A failed send is retried after a pause, as an
                // application would; not a synchronisation.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_master_elects_an_in_sync_slave_and_loses_nothing() {
    const PRODUCERS: usize = 4;
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let (mut c, master_id, master, e0, topic) = sync_group(net, &[], "Failover").await;

    let mut load = Load::start(&c, "failover-producer", &topic, PRODUCERS);
    let tally = load.tally.clone();
    // A push consumer group reads along.
    let delivered: Arc<Mutex<std::collections::HashSet<Bytes>>> = Arc::default();
    let seen = delivered.clone();
    let consumer = ferromq_client::PushConsumer::builder()
        .namesrv_addr(&c.namesrvs)
        .group("failover-readers")
        .subscribe(topic.as_str(), "*")
        .consume_from(ferromq_client::ConsumeFromWhere::FirstOffset)
        .rebalance_interval(Duration::from_millis(500))
        .heartbeat_interval(Duration::from_secs(1))
        .long_poll_hold(Duration::from_secs(2))
        .listener_concurrently(move |msgs| {
            let mut s = seen.lock();
            for m in msgs {
                s.insert(m.message.body.clone());
            }
            ferromq_client::ConsumeResult::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();
    wait_for("sends before the kill", Duration::from_secs(60), || async {
        (tally.ok.load(Ordering::Relaxed) >= 500 && delivered.lock().len() >= 100).then_some(())
    })
    .await;
    let killed_at = Instant::now();
    c.kill9(master);
    // The controllers' Raft leader dies too, before it can have noticed:
    // another node takes over and still elects a new master.
    let dead_controller = c.kill_controller_leader().await;
    println!("killed controller node {}", dead_controller + 1);

    let d = c
        .wait_group("a new master", |d| {
            d.group.epoch == e0 + 1 && d.group.master.is_some()
        })
        .await;
    let new_master = d.group.master.as_ref().unwrap().replica_id;
    assert_ne!(new_master, master_id);
    assert!(
        !d.group.sync_state_set.contains(&master_id),
        "the dead master left the set: {:?}",
        d.group.sync_state_set
    );
    let ok_at_kill = tally.ok.load(Ordering::Relaxed);
    wait_for(
        "sends acknowledged by the new master",
        Duration::from_secs(60),
        || async { (tally.ok.load(Ordering::Relaxed) >= ok_at_kill + 500).then_some(()) },
    )
    .await;
    // The first send begun after the kill that was acknowledged: only the
    // new master can have done that.
    let first_after = tally
        .acks
        .lock()
        .iter()
        .find(|(sent, _, _)| *sent > killed_at)
        .map(|(_, done, _)| done.duration_since(killed_at));
    println!("kill -9 to the first acknowledged send on the new master: {first_after:?}");

    // The old master comes back as a slave and catches up.
    c.start_broker(master);
    c.wait_group("the old master back in the in-sync set", |d| {
        d.group.sync_state_set.len() == 3 && d.group.epoch == e0 + 1
    })
    .await;
    load.stop().await;
    // Every replica holds every acknowledged message, the old master too,
    // and the consumers carried on to the last of them.
    let acks = tally.acked();
    wait_for(
        "every acknowledged send consumed",
        Duration::from_secs(60),
        || async {
            let d = delivered.lock();
            acks.iter().all(|a| d.contains(&a.body)).then_some(())
        },
    )
    .await;
    consumer.shutdown().await;
    c.stop_brokers();
    c.check_acks_everywhere(&acks, &topic).await;
    println!(
        "acknowledged {}, failed or refused sends {}",
        acks.len(),
        tally.errors.load(Ordering::Relaxed)
    );
}

/// The master's role as it reports it: (role, fenced, epoch).
async fn role_of(addr: &str) -> Option<(String, bool, u32)> {
    let conn = ferromq_remoting::Connection::connect(addr, Duration::from_secs(1))
        .await
        .ok()?;
    let info = conn
        .call(
            &ferromq_protocol::header::GetBrokerRuntimeInfoRequest {},
            Bytes::new(),
            Duration::from_secs(1),
        )
        .await
        .ok()?
        .header;
    Some((info.role, info.fenced, info.epoch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_cut_off_from_the_controllers_and_slaves_stops_and_rejoins_after_the_heal() {
    const PRODUCERS: usize = 4;
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let (mut c, master_id, master, e0, topic) = sync_group(net, &[], "Partition").await;
    let master_addr = c.broker_hosts[master].addr(BROKER_PORT);

    let mut load = Load::start(&c, "partition-producer", &topic, PRODUCERS);
    let tally = load.tally.clone();
    wait_for("sends before the cut", Duration::from_secs(60), || async {
        (tally.ok.load(Ordering::Relaxed) >= 500).then_some(())
    })
    .await;

    // The master keeps its link to the producers (this namespace) but
    // loses every controller and both slaves.
    let others: Vec<&Host> = c
        ._controller_hosts
        .iter()
        .chain(
            c.broker_hosts
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != master)
                .map(|(_, h)| h),
        )
        .collect();
    for h in &others {
        c.broker_hosts[master].cut_from(h);
    }
    let cut_at = Instant::now();
    // Within its lease it stops taking sends, while the producers still
    // reach it.
    let fenced_after = wait_for(
        "the cut-off master fenced",
        Duration::from_secs(10),
        || async {
            role_of(&master_addr)
                .await
                .filter(|(_, fenced, _)| *fenced)
                .map(|_| cut_at.elapsed())
        },
    )
    .await;
    let d = c
        .wait_group("a new master", |d| {
            d.group.epoch == e0 + 1 && d.group.master.is_some()
        })
        .await;
    let elected_after = cut_at.elapsed();
    let new_master = d.group.master.as_ref().unwrap().replica_id;
    assert_ne!(new_master, master_id);
    println!(
        "cut: old master fenced after {fenced_after:?}, new master elected by {elected_after:?}"
    );
    let ok_now = tally.ok.load(Ordering::Relaxed);
    wait_for(
        "sends acknowledged by the new master",
        Duration::from_secs(60),
        || async { (tally.ok.load(Ordering::Relaxed) >= ok_now + 500).then_some(()) },
    )
    .await;
    assert!(
        role_of(&master_addr)
            .await
            .is_some_and(|(_, fenced, epoch)| fenced && epoch == e0),
        "the old master is still fenced in its epoch while cut off"
    );

    // Heal: the old master learns the new epoch, truncates and follows.
    for h in &others {
        c.broker_hosts[master].heal_from(h);
    }
    c.wait_group("the old master back in the in-sync set", |d| {
        d.group.sync_state_set.len() == 3 && d.group.epoch == e0 + 1
    })
    .await;
    let (role, _, epoch) = role_of(&master_addr).await.unwrap();
    assert_eq!((role.as_str(), epoch), ("slave", e0 + 1));
    load.stop().await;
    let acks = tally.acked();
    c.stop_brokers();
    // Every acknowledged send is on every replica: nothing the old master
    // acknowledged after the cut is missing from the new master's log, and
    // the old master holds exactly what the others hold.
    c.check_acks_everywhere(&acks, &topic).await;
    let mut logs = Vec::new();
    for dir in &c.broker_dirs {
        let store = open_store(dir.path()).await;
        logs.push(ferromq_tests::stores::log_bytes(
            &store,
            store.log_end().get(),
        ));
        close_store(store).await;
    }
    assert!(
        logs.windows(2).all(|w| w[0] == w[1]),
        "the three logs are byte for byte the same (lengths {:?})",
        logs.iter().map(Vec::len).collect::<Vec<_>>()
    );
    println!(
        "acknowledged {}, failed or refused {}",
        acks.len(),
        tally.errors.load(Ordering::Relaxed)
    );
}

/// Every message of `topic` in the stopped broker's store at `dir`, per
/// queue in queue order: (queue offset, body).
async fn read_all(dir: &Path, topic: &TopicName) -> Vec<Vec<(u64, Bytes)>> {
    let store = open_store(dir).await;
    let mut queues = Vec::new();
    for q in 0..QUEUES {
        let qid = QueueId::new(q);
        let mut at = 0u64;
        let mut msgs = Vec::new();
        loop {
            let r = store
                .read(topic, qid, QueueOffset::new(at), 256, u32::MAX)
                .unwrap();
            let got = record::decode_all(&r.records.into_bytes()).unwrap();
            if got.is_empty() {
                break;
            }
            for m in got {
                msgs.push((m.queue_offset.get(), m.message.body.clone()));
            }
            at = r.next_offset.get();
        }
        queues.push(msgs);
    }
    close_store(store).await;
    queues
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_master_kills_in_a_row_lose_nothing() {
    const PRODUCERS: usize = 4;
    const KILLS: usize = 20;
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let (mut c, _, _, e0, topic) = sync_group(net, &[], "Kills").await;
    let mut load = Load::start(&c, "kills-producer", &topic, PRODUCERS);
    let tally = load.tally.clone();

    let mut outages = Vec::new();
    for kill in 0..KILLS {
        let d = c.wait_all_in_sync().await;
        let ok = tally.ok.load(Ordering::Relaxed);
        wait_for("sends before the kill", Duration::from_secs(60), || async {
            (tally.ok.load(Ordering::Relaxed) >= ok + 100).then_some(())
        })
        .await;
        let master = c.index_of(&d, d.group.master.as_ref().unwrap().replica_id);
        let killed_at = Instant::now();
        c.kill9(master);
        c.wait_group("a new master", |n| n.group.epoch == d.group.epoch + 1)
            .await;
        let outage = wait_for(
            "an acknowledged send begun after the kill",
            Duration::from_secs(60),
            || async {
                tally
                    .acks
                    .lock()
                    .iter()
                    .rev()
                    .take_while(|(sent, _, _)| *sent > killed_at)
                    .last()
                    .map(|(_, done, _)| done.duration_since(killed_at))
            },
        )
        .await;
        println!(
            "kill {kill}: epoch {} -> {}, first acknowledged send after {outage:?}",
            d.group.epoch,
            d.group.epoch + 1
        );
        outages.push(outage);
        c.start_broker(master);
    }
    load.stop().await;
    let final_group = c.wait_all_in_sync().await;
    let acks = tally.acked();
    c.stop_brokers();
    let final_master = c.index_of(
        &final_group,
        final_group.group.master.as_ref().unwrap().replica_id,
    );
    let queues = read_all(c.broker_dirs[final_master].path(), &topic).await;

    // 0 lost, 0 corrupt: every acknowledged send at its queue and offset.
    let mut lost = 0;
    for a in &acks {
        let q = &queues[a.queue_id.get() as usize];
        let at = q.binary_search_by_key(&a.queue_offset.get(), |(o, _)| *o);
        match at.map(|i| &q[i].1) {
            Ok(body) if *body == a.body => {}
            _ => lost += 1,
        }
    }
    // Duplicates (a retried send whose first try was stored but not
    // acknowledged) are counted, and the order of each producer's
    // acknowledged sends is kept within each queue.
    let mut seen = std::collections::HashMap::new();
    for q in &queues {
        for (_, body) in q {
            *seen.entry(body.clone()).or_insert(0usize) += 1;
        }
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let mut by_queue_task: std::collections::BTreeMap<(u32, String), Vec<(u64, String)>> =
        Default::default();
    for a in &acks {
        let s = String::from_utf8_lossy(&a.body).to_string();
        let (task, seq) = s.split_once('-').unwrap();
        let seq = seq.split('-').next().unwrap().to_string();
        by_queue_task
            .entry((a.queue_id.get(), task.to_string()))
            .or_default()
            .push((a.queue_offset.get(), seq));
    }
    let mut out_of_order = 0;
    for v in by_queue_task.values_mut() {
        v.sort();
        out_of_order += v.windows(2).filter(|w| w[0].1 >= w[1].1).count();
    }
    let mut sorted = outages.clone();
    sorted.sort();
    println!(
        "{KILLS} kills: acknowledged {}, lost {lost}, duplicates {duplicates}, out of order {out_of_order}, \
         failed or refused sends {}; first acknowledged send after a kill: median {:?}, max {:?}",
        acks.len(),
        tally.errors.load(Ordering::Relaxed),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    assert_eq!(final_group.group.epoch as usize, e0 as usize + KILLS);
    assert_eq!(lost, 0, "acknowledged sends missing or different");
    assert_eq!(
        out_of_order, 0,
        "a producer's acknowledged sends out of order in a queue"
    );
    assert!(acks.len() >= KILLS * 100);
}

/// Runs the real `mqadmin` with `args`; (exit 0, stdout, stderr).
async fn mqadmin(args: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(ferromq_tests::binary_path("mqadmin"));
    cmd.args(args).env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_master_switches_to_an_in_sync_slave_and_refuses_one_that_is_behind() {
    const PRODUCERS: usize = 2;
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let (mut c, old_id, _, e0, topic) =
        sync_group(net, &["--ha-in-sync-timeout-ms", "1000"], "Elect").await;
    let mut load = Load::start(&c, "elect-producer", &topic, PRODUCERS);
    let tally = load.tally.clone();
    wait_for(
        "sends before the switch",
        Duration::from_secs(60),
        || async { (tally.ok.load(Ordering::Relaxed) >= 300).then_some(()) },
    )
    .await;

    // A switch to an in-sync slave, while sends go on.
    let d = c.group().await.unwrap();
    let target = *d
        .group
        .sync_state_set
        .iter()
        .find(|id| **id != old_id)
        .unwrap();
    let target_s = target.to_string();
    let (ok, out, err) = mqadmin(&[
        "electMaster",
        "-a",
        &c.controllers,
        "-b",
        GROUP,
        "-i",
        &target_s,
    ])
    .await;
    assert!(ok, "electMaster failed: {err}");
    assert!(out.contains(&format!("replica {target}")), "{out}");
    let after = c
        .wait_group("the switch done", |d| {
            d.group.epoch == e0 + 1
                && d.group
                    .master
                    .as_ref()
                    .is_some_and(|m| m.replica_id == target)
        })
        .await;
    let ok_now = tally.ok.load(Ordering::Relaxed);
    wait_for(
        "sends acknowledged by the new master",
        Duration::from_secs(60),
        || async { (tally.ok.load(Ordering::Relaxed) >= ok_now + 300).then_some(()) },
    )
    .await;
    // The old master follows the new one and rejoins the set.
    c.wait_group("the old master back in the in-sync set", |d| {
        d.group.sync_state_set.len() == 3 && d.group.epoch == e0 + 1
    })
    .await;

    // A slave cut off from its master leaves the set; it cannot be
    // elected, and nothing changes.
    let new_master = c.index_of(&after, target);
    let behind = (0..3).find(|i| *i != new_master).unwrap();
    let behind_id = after
        .replicas
        .iter()
        .find(|r| r.replica.addr == c.broker_hosts[behind].addr(BROKER_PORT))
        .unwrap()
        .replica
        .replica_id;
    c.broker_hosts[behind].cut_from(&c.broker_hosts[new_master]);
    let shrunk = c
        .wait_group("the cut slave out of the in-sync set", |d| {
            !d.group.sync_state_set.contains(&behind_id)
        })
        .await;
    let behind_s = behind_id.to_string();
    let (ok, _, err) = mqadmin(&[
        "electMaster",
        "-a",
        &c.controllers,
        "-b",
        GROUP,
        "-i",
        &behind_s,
    ])
    .await;
    assert!(!ok, "electing a slave outside the in-sync set must fail");
    assert!(err.contains("not in the in-sync set"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let unchanged = c.group().await.unwrap();
    assert_eq!(unchanged.group.epoch, shrunk.group.epoch);
    assert_eq!(unchanged.group.master, shrunk.group.master);
    c.broker_hosts[behind].heal_from(&c.broker_hosts[new_master]);

    load.stop().await;
    let acks = tally.acked();
    c.stop_brokers();
    // The switch lost nothing: the new master has every acknowledged send.
    let (found, _) = check_acks_on(c.broker_dirs[new_master].path(), &acks, &topic).await;
    assert_eq!(found, acks.len());
    println!(
        "electMaster: acknowledged {}, failed or refused {}",
        acks.len(),
        tally.errors.load(Ordering::Relaxed)
    );
}
