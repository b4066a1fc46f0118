//! Several NameServers and brokers as real processes, for the cluster tests:
//! brokers register with every NameServer; any of them can be killed with
//! SIGKILL and brokers restarted on the same store.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use ferromq_client::protocol::header::ClusterInfo;
use ferromq_client::{AdminClient, ClientConfig, MqClient};
use tempfile::TempDir;

use crate::{binary_path, wait_for, BrokerProcess, NameServerProcess};

/// NameServer flags for the tests: a broker silent for 3 s is dropped,
/// checked every 200 ms.
pub const FAST_EXPIRY: &[&str] = &["--broker-expiry-secs", "3", "--scan-interval-ms", "200"];

/// Broker registration period in the tests.
pub const REGISTER_INTERVAL: Duration = Duration::from_millis(1000);

/// NameServers and brokers as child processes, in one temp dir.
pub struct MultiCluster {
    dir: TempDir,
    namesrvs: Vec<Option<NameServerProcess>>,
    namesrv_addrs: Vec<String>,
    names: Vec<String>,
    brokers: Vec<Option<BrokerProcess>>,
    broker_addrs: Vec<String>,
    broker_args: Vec<String>,
}

impl MultiCluster {
    /// Starts `namesrvs` NameServers (with [`FAST_EXPIRY`]) and one broker
    /// per name in `brokers` (cluster `DefaultCluster`, registering every
    /// [`REGISTER_INTERVAL`], plus `broker_args`), and waits until every
    /// NameServer lists every broker.
    pub async fn start(namesrvs: usize, brokers: &[&str], broker_args: &[&str]) -> Self {
        crate::init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let ns: Vec<NameServerProcess> = (0..namesrvs)
            .map(|_| NameServerProcess::start(FAST_EXPIRY))
            .collect();
        let namesrv_addrs = ns.iter().map(|n| n.addr().to_string()).collect();
        let interval = REGISTER_INTERVAL.as_millis().to_string();
        let mut args = vec!["--register-interval-ms".to_string(), interval];
        args.extend(broker_args.iter().map(|a| a.to_string()));
        let mut c = Self {
            dir,
            namesrvs: ns.into_iter().map(Some).collect(),
            namesrv_addrs,
            names: brokers.iter().map(|b| b.to_string()).collect(),
            brokers: Vec::new(),
            broker_addrs: Vec::new(),
            broker_args: args,
        };
        for i in 0..brokers.len() {
            let b = c.spawn_broker(i);
            c.broker_addrs.push(b.broker_addr().to_string());
            c.brokers.push(Some(b));
        }
        for i in 0..brokers.len() {
            c.wait_live(i).await;
        }
        c
    }

    fn spawn_broker(&self, i: usize) -> BrokerProcess {
        let args: Vec<&str> = self.broker_args.iter().map(String::as_str).collect();
        BrokerProcess::start_clustered(
            &self.store_dir(i),
            &self.names[i],
            &self.namesrv_list(),
            &args,
        )
    }

    /// Every NameServer address, `;`-separated (killed ones included, as a
    /// client configured before the kill would have them).
    pub fn namesrv_list(&self) -> String {
        self.namesrv_addrs.join(";")
    }

    /// Address of NameServer `i`.
    pub fn namesrv_addr(&self, i: usize) -> &str {
        &self.namesrv_addrs[i]
    }

    /// Name of broker `i`.
    pub fn broker_name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Address of broker `i` (its latest, after a restart).
    pub fn broker_addr(&self, i: usize) -> &str {
        &self.broker_addrs[i]
    }

    /// Store directory of broker `i`.
    pub fn store_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.names[i])
    }

    /// SIGKILL broker `i`.
    pub fn kill_broker(&mut self, i: usize) {
        if let Some(mut b) = self.brokers[i].take() {
            b.kill9();
        }
    }

    /// Starts broker `i` again on its store (on a new port) and waits until
    /// every live NameServer lists it; returns how long that took from the
    /// process start.
    pub async fn restart_broker(&mut self, i: usize) -> Duration {
        self.kill_broker(i);
        let started = tokio::time::Instant::now();
        let b = self.spawn_broker(i);
        self.broker_addrs[i] = b.broker_addr().to_string();
        self.brokers[i] = Some(b);
        self.wait_live(i).await;
        started.elapsed()
    }

    /// SIGKILL NameServer `i`.
    pub fn kill_namesrv(&mut self, i: usize) {
        if let Some(mut n) = self.namesrvs[i].take() {
            n.kill9();
        }
    }

    /// Addresses of the NameServers still running.
    pub fn live_namesrvs(&self) -> Vec<String> {
        self.namesrvs
            .iter()
            .zip(&self.namesrv_addrs)
            .filter(|(n, _)| n.is_some())
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// Waits (10 s at most) until every live NameServer lists broker `i`
    /// at its current address.
    pub async fn wait_live(&self, i: usize) {
        let addr = self.broker_addr(i).to_string();
        for ns in self.live_namesrvs() {
            let admin = AdminClient::connect(&ns).unwrap();
            let what = format!("{addr} to register with {ns}");
            wait_for(&what, Duration::from_secs(10), || async {
                let info = admin.cluster_info().await.ok()?;
                info.live.iter().any(|b| b.addr == addr).then_some(())
            })
            .await;
        }
    }

    /// Cluster info as NameServer `i` alone sees it.
    pub async fn cluster_info(&self, i: usize) -> ClusterInfo {
        AdminClient::connect(self.namesrv_addr(i))
            .unwrap()
            .cluster_info()
            .await
            .unwrap()
    }

    /// A client of every NameServer that re-reads routes every
    /// `route_refresh` and gives up on a dead server quickly.
    pub fn client(&self, route_refresh: Duration) -> MqClient {
        MqClient::new(
            ClientConfig::builder()
                .namesrv_addr(self.namesrv_list())
                .route_refresh_interval(route_refresh)
                .connect_timeout(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
    }

    /// Creates `topic` with 4 queues on every broker of the cluster through
    /// `mqadmin updateTopic -c`, waits until every live NameServer routes it
    /// on `brokers` brokers, and returns it with mqadmin's output.
    pub async fn create_topic(
        &self,
        topic: &str,
        brokers: usize,
    ) -> (ferromq_client::TopicName, String) {
        let args = [
            "updateTopic",
            "-t",
            topic,
            "-c",
            "DefaultCluster",
            "-r",
            "4",
            "-w",
            "4",
        ];
        let run = mqadmin(&self.namesrv_list(), &args).await;
        assert!(run.ok, "updateTopic failed: {run:?}");
        let name = ferromq_client::TopicName::new(topic).unwrap();
        for ns in self.live_namesrvs() {
            let admin = AdminClient::connect(&ns).unwrap();
            wait_for("the topic route", Duration::from_secs(10), || async {
                let r = admin.topic_route(&name).await.ok()?;
                (r.queue_datas.len() == brokers).then_some(())
            })
            .await;
        }
        (name, run.stdout)
    }
}

/// The outcome of one `mqadmin` run.
#[derive(Debug)]
pub struct AdminRun {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// Runs the real `mqadmin` with `-n namesrv` and `args`, off the async
/// runtime's threads.
pub async fn mqadmin(namesrv: &str, args: &[&str]) -> AdminRun {
    let mut cmd = std::process::Command::new(binary_path("mqadmin"));
    cmd.args(args).args(["-n", namesrv]).env("RUST_LOG", "warn");
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    AdminRun {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Drop for MultiCluster {
    /// Stops the broker processes before the temp dir goes (fields drop in
    /// declaration order, the dir first): a broker still running while it
    /// is removed can create files in it (the next segment, a spare) and
    /// leave it behind.
    fn drop(&mut self) {
        for b in &mut self.brokers {
            if let Some(mut p) = b.take() {
                p.kill9();
            }
        }
        for n in &mut self.namesrvs {
            n.take();
        }
    }
}
