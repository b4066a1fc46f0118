//! A hung broker with real processes: the `mqbroker` process is stopped
//! with SIGSTOP, so its connections stay open but nothing is answered. A
//! producer's sends time out; after three in a row the client closes the
//! connection (`ClientConfig::close_after_timeouts`), and once the broker
//! is continued (SIGCONT) sends succeed again on a new connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferromq_client::{ClientConfig, ClientError, Message, MqClient, Producer};
use ferromq_tests::{create_topic, wait_for, wait_registered, BrokerProcess, NameServerProcess};

/// Timeout of the sends to the stopped broker.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// Timeout of the sends meant to succeed (generous, for a loaded machine).
const OK_TIMEOUT: Duration = Duration::from_secs(5);

/// The pid of the `mqbroker` process whose `--store-dir` is `store_dir`
/// (`BrokerProcess` does not give its pid out; store dirs are unique).
fn broker_pid(store_dir: &Path) -> u32 {
    let store_dir = store_dir.to_str().unwrap();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap() {
        let entry = entry.unwrap();
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue; // gone meanwhile
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_broker = args.first().is_some_and(|a| a.ends_with(b"mqbroker"));
        if is_broker && args.contains(&store_dir.as_bytes()) {
            pids.push(pid);
        }
    }
    assert_eq!(pids.len(), 1, "mqbroker processes on {store_dir}: {pids:?}");
    pids[0]
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// Keeps the broker stopped; continues it when dropped (also when the test
/// fails, so the process can be killed and reaped normally).
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Self {
        signal(pid, "-STOP");
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_is_dialled_again_after_three_timeouts() {
    ferromq_tests::init_tracing();
    let ns = NameServerProcess::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("broker-a");
    let broker = BrokerProcess::start_clustered(
        &store,
        "broker-a",
        ns.addr(),
        &["--register-interval-ms", "1000"],
    );
    let addr = broker.broker_addr().to_string();
    wait_registered(ns.addr(), &addr).await;
    let topic = create_topic(ns.addr(), "Hung", 1).await;

    let client = MqClient::new(
        ClientConfig::builder()
            .namesrv_addr(ns.addr())
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    assert_eq!(client.config().close_after_timeouts(), 3);
    let producer = |timeout| {
        Producer::builder()
            .client(client.clone())
            .group("hung")
            .send_timeout(timeout)
            .build()
            .unwrap()
    };
    let (short, ok) = (producer(SEND_TIMEOUT), producer(OK_TIMEOUT));
    let m = |i: usize| Message::new(topic.clone(), format!("m{i}"));
    ok.send(m(0)).await.unwrap();
    let first = client.connection_id(&addr).await.expect("connected");

    let stopped = Stopped::new(broker_pid(&store));
    for i in 1..=3 {
        assert_eq!(
            client.connection_id(&addr).await,
            Some(first),
            "still the first connection before send {i}"
        );
        match short.send(m(i)).await {
            Err(ClientError::Timeout { .. }) => {}
            other => panic!("send {i} to the stopped broker: expected a timeout, got {other:?}"),
        }
    }
    assert_eq!(
        client.connection_id(&addr).await,
        None,
        "the third timeout in a row closes the connection"
    );

    drop(stopped);
    let mut i = 4;
    let r = wait_for(
        "a send to the continued broker",
        Duration::from_secs(30),
        || {
            i += 1;
            let send = ok.send(m(i));
            async move { send.await.ok() }
        },
    )
    .await;
    assert_eq!(r.broker_name.as_str(), "broker-a");
    let second = client.connection_id(&addr).await.expect("connected again");
    assert_ne!(second, first, "a new connection");
}
