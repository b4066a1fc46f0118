//! Hosts on a private network, for tests that run each server as if on a
//! machine of its own: a [`Net`] is a Linux bridge in the root network
//! namespace with a /24 of its own, and each [`Host`] is a network namespace
//! plugged into it by a veth pair, with its own IPv4 address and loopback.
//! Every host has its own ports, so servers use RocketMQ's fixed ones (9876,
//! 10911) in tests that run in parallel, and a host's link can be cut and
//! healed while its processes keep running.
//!
//! ```text
//!  root namespace: the test, 10.200.X.1 on bridge fq<pid>n<k>
//!    |-- veth fq<pid>h<k1> <-> eth0 10.200.X.2 in netns fq<pid>h<k1>-<name>
//!    `-- veth fq<pid>h<k2> <-> eth0 10.200.X.3 in netns fq<pid>h<k2>-<name>
//! ```
//!
//! Needs root and iproute2 (`ip`), as CI has. Without them [`Net::new`]
//! panics and says so; with `FERROMQ_NETNS=skip` it returns `None`, so a
//! test returns early instead of passing by accident:
//!
//! ```no_run
//! # use ferromq_tests::{hosts::Net, NameServerProcess};
//! let Some(net) = Net::new() else { return };
//! let a = net.host("namesrv");
//! let namesrv = NameServerProcess::start_in(&a, 9876, &[]);
//! a.cut(); // nobody reaches a now, the test included
//! a.heal();
//! ```
//!
//! # Cleanup
//! Dropping a [`Host`] (also while a panic unwinds) kills every process in
//! its namespace with SIGKILL and waits until they are gone, then deletes its
//! veth pair and namespace; the bridge goes with the last of the [`Net`] and
//! its hosts. Names carry the owning process's pid (`fq<pid-hex>n<k>` for a
//! bridge, `fq<pid-hex>h<k>` for a veth, the same plus `-<name>` for a
//! namespace), and each process holds an abstract unix socket named after its
//! pid while it lives; the first [`Net::new`] of a process removes whatever a
//! process that is gone left behind (a test run killed with SIGKILL), so it
//! never breaks the next run. [`sweep_stale`] does that on demand.
//!
//! # Limits
//! * A [`Net`] holds at most 253 hosts, and there are 256 subnets
//!   (10.200.0.0/24 to 10.200.255.0/24) for the nets of every test process on
//!   the machine. A subnet is claimed with an abstract unix socket, so two
//!   processes never pick the same one; subnets the machine uses otherwise
//!   are skipped.
//! * A delay needs `tc netem` (kernel module `sch_netem`), which some
//!   kernels lack: [`Host::add_delay`] then returns
//!   [`HostError::NetemUnsupported`]. Cutting a host off ([`Host::cut`]) or
//!   the path between two ([`Host::cut_from`]) needs nothing beyond
//!   iproute2.
//! * A process spawned into a host moments before the host is dropped may
//!   still be outside the namespace (between fork and `setns`) and escape
//!   the kill; start processes with the helpers that wait until they serve.

mod owners;

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

pub use owners::sweep_stale;
use owners::{claim_subnet, kill_all_in, pids_in};

/// First two octets of every subnet.
const SUBNETS: [u8; 2] = [10, 200];
/// Name of a host's end of its veth pair, inside its namespace.
const HOST_IFACE: &str = "eth0";
/// A MAC address no interface has: frames sent to it are lost, as on a
/// cut cable ([`Host::cut_from`]).
const NOWHERE_MAC: &str = "02:00:00:00:00:01";

/// Numbers the bridges and hosts of this process.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// What went wrong with a link setting a test asked for.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// The kernel (or `tc`) has no netem here; the test cannot shape links.
    NetemUnsupported(String),
    /// A command failed.
    Command {
        /// The command line.
        command: String,
        /// What it said.
        stderr: String,
    },
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NetemUnsupported(why) => write!(
                f,
                "tc netem is not available here ({why}); it needs `tc` and the sch_netem \
                 kernel module"
            ),
            Self::Command { command, stderr } => write!(f, "`{command}` failed: {stderr}"),
        }
    }
}

impl std::error::Error for HostError {}

/// A private network for one test: a bridge in the root namespace with its
/// own /24, the root namespace at `.1` on it. Hosts come from [`Net::host`].
pub struct Net {
    bridge: Arc<Bridge>,
}

/// The bridge, shared by the [`Net`] and its hosts, so it stays until the
/// last of them is dropped.
struct Bridge {
    name: String,
    /// Third octet of the subnet.
    subnet: u8,
    /// Last octet of the next host's address.
    next_host: AtomicU32,
    /// Claims the subnet among test processes until the bridge is deleted
    /// (fields drop after `Drop::drop`).
    _claim: UnixListener,
}

impl Net {
    /// Creates a bridge with a subnet no other net on the machine uses.
    /// The first call in a process also removes what dead test processes
    /// left behind.
    ///
    /// Returns `None` only when `FERROMQ_NETNS=skip` is set.
    ///
    /// # Panics
    /// Without root or `ip`, saying what is needed, and when an `ip`
    /// command fails.
    pub fn new() -> Option<Self> {
        if std::env::var_os("FERROMQ_NETNS").is_some_and(|v| v == "skip") {
            warn!("FERROMQ_NETNS=skip: skipping a network-namespace test");
            return None;
        }
        owners::claim_this_process();
        let pid = std::process::id();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (subnet, claim) = claim_subnet(pid.wrapping_add(id.wrapping_mul(37)));
        let bridge = Bridge {
            name: format!("fq{pid:x}n{id}"),
            subnet,
            next_host: AtomicU32::new(2),
            _claim: claim,
        };
        // From here on a panic drops `bridge`, which deletes what exists.
        ip(&["link", "add", &bridge.name, "type", "bridge"]);
        let root = format!("{}/24", bridge.addr(1));
        ip(&["addr", "add", &root, "dev", &bridge.name]);
        ip(&["link", "set", &bridge.name, "up"]);
        info!(bridge = %bridge.name, subnet = %bridge.addr(0), "network created");
        Some(Self {
            bridge: Arc::new(bridge),
        })
    }

    /// Adds a host called `name` (used in its namespace's name, for people
    /// reading `ip netns list`) with the next address of the subnet.
    ///
    /// # Panics
    /// When an `ip` command fails or the subnet is full (253 hosts).
    pub fn host(&self, name: &str) -> Host {
        let last = self.bridge.next_host.fetch_add(1, Ordering::Relaxed);
        let last = u8::try_from(last)
            .ok()
            .filter(|&o| o < 255)
            .unwrap_or_else(|| panic!("a Net holds at most 253 hosts"));
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let link = format!("fq{:x}h{id}", std::process::id());
        let label: String = name
            .chars()
            .take(32)
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
                _ => '_',
            })
            .collect();
        let host = Host {
            name: name.to_string(),
            netns: format!("{link}-{label}"),
            link,
            ip: self.bridge.addr(last),
            net: self.bridge.clone(),
            delayed: AtomicBool::new(false),
        };
        // From here on a panic drops `host`, which deletes what exists.
        ip(&["netns", "add", &host.netns]);
        ip(&[
            "link",
            "add",
            &host.link,
            "type",
            "veth",
            "peer",
            "name",
            HOST_IFACE,
            "netns",
            &host.netns,
        ]);
        ip(&["link", "set", &host.link, "master", &self.bridge.name]);
        ip(&["link", "set", &host.link, "up"]);
        let addr = format!("{}/24", host.ip);
        host.ip_in(&["addr", "add", &addr, "dev", HOST_IFACE]);
        host.ip_in(&["link", "set", "lo", "up"]);
        host.ip_in(&["link", "set", HOST_IFACE, "up"]);
        info!(host = name, netns = %host.netns, ip = %host.ip, "host created");
        host
    }

    /// The root namespace's (the test's) address on this network.
    pub fn root_ip(&self) -> Ipv4Addr {
        self.bridge.addr(1)
    }

    /// Name of the bridge.
    pub fn bridge(&self) -> &str {
        &self.bridge.name
    }
}

impl Bridge {
    fn addr(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(SUBNETS[0], SUBNETS[1], self.subnet, last)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        match try_run("ip", &["link", "del", &self.name]) {
            Ok(_) => debug!(bridge = %self.name, "network deleted"),
            Err(e) => warn!(bridge = %self.name, "cannot delete the bridge: {e}"),
        }
    }
}

/// A network namespace on a [`Net`]: its own address, ports and loopback.
/// Dropping it kills its processes and deletes it.
pub struct Host {
    name: String,
    netns: String,
    /// The root-namespace end of the veth pair, on the bridge.
    link: String,
    ip: Ipv4Addr,
    net: Arc<Bridge>,
    /// Whether a netem qdisc is on `link`.
    delayed: AtomicBool,
}

impl Host {
    /// The name given to [`Net::host`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `ip:port`, as a listen or connect address.
    pub fn addr(&self, port: u16) -> String {
        format!("{}:{port}", self.ip)
    }

    /// Name of its network namespace.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Name of the root-namespace end of its veth pair.
    pub fn link(&self) -> &str {
        &self.link
    }

    /// A command that runs `program` in this host (`ip netns exec`, which
    /// execs it in place: the child's pid is the program's, and it keeps
    /// the environment and stdio the caller sets on the command).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).arg(program);
        cmd
    }

    /// Pids of the processes in this host.
    pub fn pids(&self) -> Vec<u32> {
        pids_in(&self.netns)
    }

    /// Cuts this host off from everyone, the root namespace included, by
    /// taking its link down: packets are lost, connections time out, and
    /// its processes keep running.
    ///
    /// # Panics
    /// When `ip` fails.
    pub fn cut(&self) {
        ip(&["link", "set", &self.link, "down"]);
        info!(host = %self.name, "link cut");
    }

    /// Undoes [`Self::cut`].
    ///
    /// # Panics
    /// When `ip` fails.
    pub fn heal(&self) {
        ip(&["link", "set", &self.link, "up"]);
        info!(host = %self.name, "link healed");
    }

    /// Cuts the path between this host and `other` only, both ways: each
    /// sends the other's packets to a MAC address no one has, so they are
    /// lost as on a cut cable, while both still reach everyone else.
    ///
    /// # Panics
    /// When the hosts are on different nets, or `ip` fails.
    pub fn cut_from(&self, other: &Host) {
        assert!(
            Arc::ptr_eq(&self.net, &other.net),
            "{} and {} are on different nets",
            self.name,
            other.name
        );
        for (from, to) in [(self, other), (other, self)] {
            let to = to.ip.to_string();
            let entry = ["lladdr", NOWHERE_MAC, "dev", HOST_IFACE, "nud", "permanent"];
            from.ip_in(&[&["neigh", "replace", &to], &entry[..]].concat());
        }
        info!(a = %self.name, b = %other.name, "path cut");
    }

    /// Undoes [`Self::cut_from`] (does nothing if the path is not cut).
    pub fn heal_from(&self, other: &Host) {
        for (from, to) in [(self, other), (other, self)] {
            let to = to.ip.to_string();
            let args = ["-n", &from.netns, "neigh", "del", &to, "dev", HOST_IFACE];
            if let Err(e) = try_run("ip", &args) {
                debug!("{e}");
            }
        }
        info!(a = %self.name, b = %other.name, "path healed");
    }

    /// Delays every packet sent to this host by `delay` (netem on its
    /// link), so a round trip takes that much longer. Replaces an earlier
    /// delay.
    ///
    /// # Errors
    /// [`HostError::NetemUnsupported`] where the kernel has no netem (as on
    /// some CI machines): a test that needs it can return early.
    pub fn add_delay(&self, delay: Duration) -> Result<(), HostError> {
        let us = format!("{}us", delay.as_micros());
        let args = [
            "qdisc", "replace", "dev", &self.link, "root", "netem", "delay", &us,
        ];
        match try_run("tc", &args) {
            Ok(_) => {
                self.delayed.store(true, Ordering::Relaxed);
                info!(host = %self.name, ?delay, "link delayed");
                Ok(())
            }
            Err(HostError::Command { stderr, .. })
                if stderr.contains("unknown") || stderr.contains("cannot run") =>
            {
                Err(HostError::NetemUnsupported(stderr))
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the delay of [`Self::add_delay`], if any.
    ///
    /// # Errors
    /// When `tc` fails.
    pub fn clear_delay(&self) -> Result<(), HostError> {
        if self.delayed.swap(false, Ordering::Relaxed) {
            try_run("tc", &["qdisc", "del", "dev", &self.link, "root"])?;
        }
        Ok(())
    }

    /// Runs `ip args` in this host.
    fn ip_in(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.netns];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        kill_all_in(&self.netns);
        // Deletes both ends at once; deleting only the namespace would
        // leave the kernel to do it some time later.
        if let Err(e) = try_run("ip", &["link", "del", &self.link]) {
            debug!("{e}");
        }
        match try_run("ip", &["netns", "del", &self.netns]) {
            Ok(_) => debug!(netns = %self.netns, "host deleted"),
            Err(e) => warn!(netns = %self.netns, "cannot delete the namespace: {e}"),
        }
    }
}

/// Runs `ip args` and returns its stdout, for tests that look at the
/// machine's network state.
///
/// # Panics
/// When it fails, with what it said.
pub fn ip(args: &[&str]) -> String {
    try_run("ip", args).unwrap_or_else(|e| panic!("{e}"))
}

fn try_run(program: &str, args: &[&str]) -> Result<String, HostError> {
    let command = || format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HostError::Command {
            command: command(),
            stderr: format!("cannot run it: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HostError::Command {
            command: command(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
