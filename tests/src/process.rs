//! The real `mqbroker` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// A standalone `mqbroker` (broker + NameServer) child process on port 0.
pub struct BrokerProcess {
    child: Child,
    broker_addr: String,
    namesrv_addr: String,
}

impl BrokerProcess {
    /// Starts `mqbroker --standalone` on `store_dir` with extra `args` and
    /// waits until it is serving.
    pub fn start(store_dir: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(binary_path("mqbroker"))
            .arg("--standalone")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--namesrv-listen")
            .arg("127.0.0.1:0")
            .arg("--store-dir")
            .arg(store_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut broker_addr = None;
        let mut namesrv_addr = None;
        while broker_addr.is_none() || namesrv_addr.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("mqbroker did not report its addresses within 30 s");
            if line.contains("NameServer listening") {
                namesrv_addr = field(&line, "listen=");
            } else if line.contains("broker started") {
                broker_addr = field(&line, "listen=");
            }
        }
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Self {
            child,
            broker_addr: broker_addr.unwrap(),
            namesrv_addr: namesrv_addr.unwrap(),
        }
    }

    /// [`Self::start`], then waits until the broker has registered with its
    /// NameServer, so routes are in place.
    pub async fn started(store_dir: &Path, args: &[&str]) -> Self {
        let p = Self::start(store_dir, args);
        crate::wait_registered(&p.namesrv_addr, &p.broker_addr).await;
        p
    }

    /// The broker's address.
    pub fn broker_addr(&self) -> &str {
        &self.broker_addr
    }

    /// The embedded NameServer's address.
    pub fn namesrv_addr(&self) -> &str {
        &self.namesrv_addr
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and wait for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"').to_string())
}
