//! The real `mqbroker` and `mqnamesrv` binaries as child processes, in this
//! network namespace or in a [`Host`].

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::hosts::Host;

/// Path of a workspace binary (`mqbroker`, `mqadmin`, ...) next to the test
/// executable. `cargo test --workspace` builds them before running tests.
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not found; run `cargo build --workspace --bins` (or `cargo test --workspace`) first",
        p.display()
    );
    p
}

/// Writes a config file into `store_dir` (so it goes with the test's temp
/// dir) that keeps disk-usage limits out of the way (tests must not depend
/// on how full the machine's disk is) and sets [`crate::TEST_SEGMENT_SIZE`],
/// and returns its path.
fn test_config(store_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(store_dir).unwrap();
    let path = store_dir.join("test-broker.toml");
    std::fs::write(
        &path,
        format!(
            "disk_clean_ratio = 1.0\ndisk_force_clean_ratio = 1.0\ndisk_reject_ratio = 1.0\n\
             segment_size = {}\n",
            crate::TEST_SEGMENT_SIZE
        ),
    )
    .unwrap();
    path
}

/// A child process whose stderr log is read for the lines it reports.
struct Logged {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Logged {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        // FERROMQ_TEST_LOG_DIR=DIR keeps each child's log in
        // DIR/<program>-<pid>.log, for looking into a failed test.
        let mut keep = std::env::var_os("FERROMQ_TEST_LOG_DIR").and_then(|dir| {
            let program = Path::new(cmd.get_program())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::fs::File::create(Path::new(&dir).join(format!("{program}-{}.log", child.id())))
                .ok()
        });
        std::thread::spawn(move || {
            use std::io::Write;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = keep.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Reads log lines until one containing `marker` shows up and returns
    /// its `key=` field.
    fn wait_field(&self, marker: &str, key: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {marker:?} line within 30 s"));
            if line.contains(marker) {
                return field(&line, key).unwrap();
            }
        }
    }

    /// Keeps draining the log so the child never blocks on a full pipe.
    fn drain(self) -> Child {
        let lines = self.lines;
        std::thread::spawn(move || while lines.recv().is_ok() {});
        self.child
    }
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn terminate(child: &mut Child) -> bool {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().map(|s| s.success()).unwrap_or(false)
}

/// A `mqbroker` child process on port 0: standalone (with its own
/// NameServer) or registered with NameServers of its own.
pub struct BrokerProcess {
    child: Child,
    broker_addr: String,
    namesrv_addr: String,
}

impl BrokerProcess {
    /// Starts `mqbroker --standalone` on `store_dir` with extra `args` and
    /// waits until it is serving.
    pub fn start(store_dir: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(binary_path("mqbroker"));
        cmd.args(["--standalone", "--listen", "127.0.0.1:0"])
            .args(["--namesrv-listen", "127.0.0.1:0", "--store-dir"])
            .arg(store_dir)
            .arg("--config")
            .arg(test_config(store_dir))
            .args(args);
        let p = Logged::spawn(cmd);
        let namesrv_addr = p.wait_field("NameServer listening", "listen=");
        let broker_addr = p.wait_field("broker started", "listen=");
        Self {
            child: p.drain(),
            broker_addr,
            namesrv_addr,
        }
    }

    /// [`Self::start`], then waits until the broker has registered with its
    /// NameServer, so routes are in place.
    pub async fn started(store_dir: &Path, args: &[&str]) -> Self {
        let p = Self::start(store_dir, args);
        crate::wait_registered(&p.namesrv_addr, &p.broker_addr).await;
        p
    }

    /// Starts a broker named `name` that registers with `namesrv`
    /// (`;`-separated) and waits until it is serving (not until registered:
    /// with several NameServers, wait per NameServer as needed).
    pub fn start_clustered(store_dir: &Path, name: &str, namesrv: &str, args: &[&str]) -> Self {
        let cmd = Command::new(binary_path("mqbroker"));
        Self::clustered(cmd, "127.0.0.1:0", store_dir, name, namesrv, args)
    }

    /// [`Self::start_clustered`] in `host`, listening on its address at
    /// `port` (each host has its own ports, so RocketMQ's 10911 does).
    pub fn start_clustered_in(
        host: &Host,
        port: u16,
        store_dir: &Path,
        name: &str,
        namesrv: &str,
        args: &[&str],
    ) -> Self {
        let cmd = host.command(binary_path("mqbroker"));
        Self::clustered(cmd, &host.addr(port), store_dir, name, namesrv, args)
    }

    fn clustered(
        mut cmd: Command,
        listen: &str,
        store_dir: &Path,
        name: &str,
        namesrv: &str,
        args: &[&str],
    ) -> Self {
        cmd.args(["--listen", listen, "--broker-name", name])
            .args(["--namesrv-addr", namesrv, "--store-dir"])
            .arg(store_dir)
            .arg("--config")
            .arg(test_config(store_dir))
            .args(args);
        let p = Logged::spawn(cmd);
        let broker_addr = p.wait_field("broker started", "listen=");
        Self {
            child: p.drain(),
            broker_addr,
            namesrv_addr: namesrv.to_string(),
        }
    }

    /// The broker's address.
    pub fn broker_addr(&self) -> &str {
        &self.broker_addr
    }

    /// The NameServer address(es) the broker registers with.
    pub fn namesrv_addr(&self) -> &str {
        &self.namesrv_addr
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// SIGTERM, and wait for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        terminate(&mut self.child)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        kill9(&mut self.child);
    }
}

/// A `mqnamesrv` child process on port 0.
pub struct NameServerProcess {
    child: Child,
    addr: String,
}

impl NameServerProcess {
    /// Starts `mqnamesrv --listen 127.0.0.1:0` with extra `args` and waits
    /// until it listens.
    pub fn start(args: &[&str]) -> Self {
        Self::spawn(Command::new(binary_path("mqnamesrv")), "127.0.0.1:0", args)
    }

    /// [`Self::start`] in `host`, listening on its address at `port` (each
    /// host has its own ports, so RocketMQ's 9876 does).
    pub fn start_in(host: &Host, port: u16, args: &[&str]) -> Self {
        let cmd = host.command(binary_path("mqnamesrv"));
        Self::spawn(cmd, &host.addr(port), args)
    }

    fn spawn(mut cmd: Command, listen: &str, args: &[&str]) -> Self {
        cmd.args(["--listen", listen]).args(args);
        let p = Logged::spawn(cmd);
        let addr = p.wait_field("listening on", "addr=");
        Self {
            child: p.drain(),
            addr,
        }
    }

    /// Its address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }
}

impl Drop for NameServerProcess {
    fn drop(&mut self) {
        kill9(&mut self.child);
    }
}

fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"').to_string())
}

/// The controller's port in a host (RocketMQ's 9878).
pub const CONTROLLER_PORT: u16 = 9878;

/// `--controller-peers` for controller nodes 1, 2, ... on `hosts`, each at
/// [`CONTROLLER_PORT`].
pub fn controller_peers(hosts: &[&Host]) -> String {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{}-{}", i + 1, h.addr(CONTROLLER_PORT)))
        .collect::<Vec<_>>()
        .join(";")
}

/// A `mqnamesrv --controller` child process in a host: a NameServer at
/// port 9876 with a controller node at [`CONTROLLER_PORT`].
pub struct ControllerProcess {
    child: Child,
    namesrv_addr: String,
    controller_addr: String,
}

impl ControllerProcess {
    /// Starts controller node `id` of `peers` in `host`, its Raft data in
    /// `dir`, and waits until the controller serves.
    pub fn start_in(host: &Host, id: u64, peers: &str, dir: &Path, args: &[&str]) -> Self {
        let mut cmd = host.command(binary_path("mqnamesrv"));
        cmd.args(["--listen", &host.addr(9876), "--controller"]);
        Self::spawn(cmd, host.addr(9876), id, peers, dir, args)
    }

    /// [`Self::start_in`] as a controller of its own (`mqcontroller`), no
    /// NameServer beside it.
    pub fn start_standalone_in(
        host: &Host,
        id: u64,
        peers: &str,
        dir: &Path,
        args: &[&str],
    ) -> Self {
        let cmd = host.command(binary_path("mqcontroller"));
        Self::spawn(cmd, String::new(), id, peers, dir, args)
    }

    fn spawn(
        mut cmd: Command,
        namesrv_addr: String,
        id: u64,
        peers: &str,
        dir: &Path,
        args: &[&str],
    ) -> Self {
        let id = id.to_string();
        cmd.args(["--controller-id", &id, "--controller-peers", peers])
            .arg("--controller-dir")
            .arg(dir)
            .args(args);
        let p = Logged::spawn(cmd);
        let controller_addr = p.wait_field("controller serving", "controller_addr=");
        Self {
            child: p.drain(),
            namesrv_addr,
            controller_addr,
        }
    }

    /// The NameServer's address (empty for a standalone controller).
    pub fn namesrv_addr(&self) -> &str {
        &self.namesrv_addr
    }

    /// The controller's address.
    pub fn controller_addr(&self) -> &str {
        &self.controller_addr
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        kill9(&mut self.child);
    }
}
