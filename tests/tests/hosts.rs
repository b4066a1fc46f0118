//! Namespace hosts (`ferromq_tests::hosts`) with the real binaries: a
//! NameServer and a broker each on a host of its own at RocketMQ's fixed
//! ports, reached from the test's root namespace; links cut and healed;
//! nothing left behind, also after a panic or by a test process killed
//! with SIGKILL.
//!
//! Needs root and iproute2; `FERROMQ_NETNS=skip` skips these tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferromq_client::{AdminClient, BrokerName, ClientConfig, ClusterName, Message, MqClient};
use ferromq_tests::hosts::{self, Host, HostError, Net};
use ferromq_tests::multi::FAST_EXPIRY;
use ferromq_tests::{
    binary_path, consume_n, consumer, create_topic, producer, wait_for, wait_registered,
    BrokerProcess, NameServerProcess,
};
use tempfile::TempDir;

const NAMESRV_PORT: u16 = 9876;
const BROKER_PORT: u16 = 10911;

fn net() -> Option<Net> {
    ferromq_tests::init_tracing();
    Net::new()
}

/// A NameServer on host `a` and a broker registering with it every second
/// on host `b`. Fields drop in order: the processes, then their hosts, then
/// the store, then the net.
struct Pair {
    broker: BrokerProcess,
    namesrv: NameServerProcess,
    a: Host,
    b: Host,
    _dir: TempDir,
    _net: Net,
}

impl Pair {
    async fn start(net: Net) -> Self {
        let a = net.host("namesrv");
        let b = net.host("broker");
        let namesrv = NameServerProcess::start_in(&a, NAMESRV_PORT, FAST_EXPIRY);
        assert_eq!(namesrv.addr(), a.addr(NAMESRV_PORT));
        let dir = tempfile::tempdir().unwrap();
        let args = ["--register-interval-ms", "1000"];
        let broker = BrokerProcess::start_clustered_in(
            &b,
            BROKER_PORT,
            dir.path(),
            "broker-a",
            namesrv.addr(),
            &args,
        );
        assert_eq!(broker.broker_addr(), b.addr(BROKER_PORT));
        wait_registered(namesrv.addr(), broker.broker_addr()).await;
        Self {
            broker,
            namesrv,
            a,
            b,
            _dir: dir,
            _net: net,
        }
    }

    /// An admin client that gives up on a silent server within a second.
    fn impatient_admin(&self) -> AdminClient {
        let config = ClientConfig::builder()
            .namesrv_addr(self.namesrv.addr())
            .request_timeout(Duration::from_secs(1))
            .connect_timeout(Duration::from_secs(1))
            .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(200))
            .build()
            .unwrap();
        AdminClient::new(MqClient::new(config))
    }

    /// Whether the NameServer lists the broker as live.
    async fn broker_listed(&self, admin: &AdminClient) -> Option<bool> {
        let info = admin.cluster_info().await.ok()?;
        Some(
            info.live
                .iter()
                .any(|b| b.addr == self.broker.broker_addr()),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_on_one_host_registers_with_a_namesrv_on_another_and_serves_the_test() {
    let Some(net) = net() else { return };
    let p = Pair::start(net).await;
    let namesrv = p.namesrv.addr();
    let broker_addr = p.b.addr(BROKER_PORT);

    let info = AdminClient::connect(namesrv)
        .unwrap()
        .cluster_info()
        .await
        .unwrap();
    let live: Vec<_> = info
        .live
        .iter()
        .map(|b| (b.broker_name.to_string(), b.broker_id, b.addr.clone()))
        .collect();
    assert_eq!(live, [("broker-a".to_string(), 0, broker_addr.clone())]);
    let name = BrokerName::new("broker-a").unwrap();
    assert_eq!(
        info.brokers[&name].addrs,
        BTreeMap::from([(0, broker_addr.clone())])
    );
    let cluster = ClusterName::new("DefaultCluster").unwrap();
    assert!(info.clusters[&cluster].contains(&name));

    let topic = create_topic(namesrv, "HostsTopic", 1).await;
    let sent = producer(namesrv)
        .send(Message::new(topic.clone(), "across namespaces"))
        .await
        .unwrap();
    assert_eq!(&*sent.broker_addr, broker_addr);
    let reader = consumer(namesrv, "hosts-readers");
    reader.subscribe(&topic).await.unwrap();
    let got = consume_n(&reader, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "the message read back");
    assert_eq!(&got[0].message.body[..], b"across namespaces");
    assert_eq!(got[0].queue_offset, sent.queue_offset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_host_is_unreachable_from_everyone_until_healed() {
    let Some(net) = net() else { return };
    let p = Pair::start(net).await;
    let admin = p.impatient_admin();
    let broker_addr = p.broker.broker_addr().to_string();
    admin.broker_runtime_info(&broker_addr).await.unwrap();

    p.b.cut();
    let asked = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        admin.broker_runtime_info(&broker_addr),
    )
    .await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "the cut broker answered the test"
    );
    eprintln!(
        "a request to the cut broker failed after {:?}",
        asked.elapsed()
    );
    // The broker cannot reach the NameServer either: it expires.
    wait_for(
        "the NameServer to drop the cut-off broker",
        Duration::from_secs(15),
        || async { p.broker_listed(&admin).await.filter(|l| !l) },
    )
    .await;

    p.b.heal();
    wait_for(
        "the healed broker to answer the test",
        Duration::from_secs(15),
        || async { admin.broker_runtime_info(&broker_addr).await.ok() },
    )
    .await;
    wait_registered(p.namesrv.addr(), &broker_addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_cut_between_two_hosts_leaves_both_reachable_from_the_rest() {
    let Some(net) = net() else { return };
    let p = Pair::start(net).await;
    let admin = p.impatient_admin();
    let broker_addr = p.broker.broker_addr().to_string();

    p.a.cut_from(&p.b);
    wait_for(
        "the NameServer to drop the broker it no longer hears",
        Duration::from_secs(15),
        || async { p.broker_listed(&admin).await.filter(|l| !l) },
    )
    .await;
    // The test reaches both all along.
    admin.broker_runtime_info(&broker_addr).await.unwrap();
    admin.cluster_info().await.unwrap();

    p.a.heal_from(&p.b);
    wait_for(
        "the broker to register again",
        Duration::from_secs(15),
        || async { p.broker_listed(&admin).await.filter(|&l| l) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_slows_a_hosts_link_or_says_why_it_cannot() {
    let Some(net) = net() else { return };
    let a = net.host("slow");
    let namesrv = NameServerProcess::start_in(&a, NAMESRV_PORT, &[]);
    let delay = Duration::from_millis(200);
    match a.add_delay(delay) {
        Ok(()) => {
            let started = Instant::now();
            tokio::net::TcpStream::connect(namesrv.addr())
                .await
                .unwrap();
            assert!(
                started.elapsed() >= delay,
                "connected in {:?}",
                started.elapsed()
            );
            a.clear_delay().unwrap();
        }
        Err(e @ HostError::NetemUnsupported(_)) => {
            let why = e.to_string();
            eprintln!("{why}");
            assert!(why.contains("netem") && why.contains("sch_netem"), "{why}");
        }
        Err(e) => panic!("{e}"),
    }
}

/// Names of the machine's namespaces and links.
fn machine_names() -> Vec<String> {
    let netns = hosts::ip(&["netns", "list"]);
    let links = hosts::ip(&["-br", "link", "show"]);
    netns
        .lines()
        .chain(links.lines())
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn assert_gone(names: &[String]) {
    let left = machine_names();
    for n in names {
        assert!(!left.contains(n), "{n} is still there: {left:?}");
    }
}

/// A NameServer in `netns` (with `ip netns exec`, as [`Host::command`]
/// does), once it is inside.
fn spawn_in(netns: &str) -> Child {
    let child = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(binary_path("mqnamesrv"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hosts::ip(&["netns", "pids", netns])
        .lines()
        .any(|l| l.trim() == child.id().to_string())
    {
        assert!(
            Instant::now() < deadline,
            "the process never entered {netns}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Creates a net with two hosts and a process in one, records every name
/// in `names`, and returns the process.
fn populate(net: &Net, names: &mut Vec<String>) -> (Host, Host, Child) {
    let (a, b) = (net.host("a"), net.host("b"));
    names.push(net.bridge().to_string());
    for h in [&a, &b] {
        names.extend([h.netns().to_string(), h.link().to_string()]);
    }
    let present = machine_names();
    assert!(
        names.iter().all(|n| present.contains(n)),
        "{names:?} in {present:?}"
    );
    let child = spawn_in(a.netns());
    (a, b, child)
}

#[test]
fn dropping_the_hosts_and_net_removes_every_namespace_link_and_process() {
    let Some(net) = net() else { return };
    let mut names = Vec::new();
    let (a, b, mut child) = populate(&net, &mut names);
    drop((a, b, net));
    assert!(
        child.try_wait().unwrap().is_some(),
        "the process in the host was killed"
    );
    assert_gone(&names);
}

#[test]
fn a_panicking_test_still_removes_everything() {
    let Some(net) = net() else { return };
    let mut names = Vec::new();
    let mut child = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let net = net;
        let (_a, _b, c) = populate(&net, &mut names);
        child = Some(c);
        panic!("on purpose, with the hosts in scope");
    }));
    assert!(outcome.is_err());
    let mut child = child.unwrap();
    assert!(
        child.try_wait().unwrap().is_some(),
        "the process was killed"
    );
    assert_gone(&names);
}

/// Set for [`a_test_process_that_gets_killed`] when it runs as the victim.
const VICTIM: &str = "FERROMQ_HOSTS_VICTIM";

/// The victim of [`the_sweep_removes_what_a_killed_test_process_left`]:
/// builds a net with a process in one host, reports them on stderr, and
/// waits to be killed (or for its stdin to close).
#[test]
#[ignore = "run by the_sweep_removes_what_a_killed_test_process_left"]
fn a_test_process_that_gets_killed() {
    if std::env::var_os(VICTIM).is_none() {
        return;
    }
    let Some(net) = net() else { return };
    let mut names = Vec::new();
    let (a, _b, _child) = populate(&net, &mut names);
    let pids: Vec<String> = a.pids().iter().map(u32::to_string).collect();
    eprintln!("VICTIM {} PIDS {}", names.join(" "), pids.join(" "));
    std::io::stdin().read_line(&mut String::new()).unwrap();
}

#[test]
fn the_sweep_removes_what_a_killed_test_process_left() {
    // Also fails early, in this process, without root or `ip`.
    let Some(_net) = net() else { return };
    let mut victim = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_test_process_that_gets_killed"])
        .args(["--ignored", "--nocapture"])
        .env(VICTIM, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = BufReader::new(victim.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let report = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the victim reports its names within 30 s");
        if let Some(report) = line.strip_prefix("VICTIM ") {
            break report.to_string();
        }
    };
    let (names, pids) = report.split_once(" PIDS ").unwrap();
    let names: Vec<String> = names.split(' ').map(str::to_string).collect();
    let pids: Vec<u32> = pids.split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 1, "one process in the victim's host");
    // Nobody sweeps them while the victim lives.
    let present = machine_names();
    assert!(names.iter().all(|n| present.contains(n)), "{names:?}");

    victim.kill().unwrap();
    victim.wait().unwrap();
    hosts::sweep_stale();
    assert_gone(&names);
    for pid in pids {
        // Gone, or a zombie its new parent has not reaped yet.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        assert!(
            matches!(state, None | Some('Z')),
            "{pid} still runs: {stat}"
        );
    }
}
