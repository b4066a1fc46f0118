//! Who owns the names and subnets of [`super::Net`]s, and removing what
//! owners that are gone left behind.
//!
//! Each test process holds an abstract unix socket named after its pid while
//! it lives, and one per subnet while a net has it. The kernel releases them
//! when the process dies, whatever killed it, and scopes them to the network
//! namespace, as the bridges and addresses are: so "can I bind it?" tells
//! whether an owner is gone (even when its pid was reused by some other
//! program) and claims a subnet atomically.

use std::net::Ipv4Addr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{ip, try_run, SUBNETS};

const NEEDS: &str =
    "network-namespace tests need root and iproute2; set FERROMQ_NETNS=skip to skip them";
/// How long processes of a namespace get to die after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// This process's claim on its pid in the names (see [`owner_gone`]), taken
/// by the first [`super::Net::new`], held until the process exits.
static OWNER: OnceLock<UnixListener> = OnceLock::new();

/// Checks for root and `ip`, claims this process's pid and sweeps, the
/// first time in this process; later calls (also concurrent ones, which wait
/// for the first) do nothing.
///
/// # Panics
/// Without root or `ip`, saying what is needed.
pub(super) fn claim_this_process() {
    OWNER.get_or_init(claim_owner);
}

/// [`claim_this_process`]: runs before this process creates anything.
fn claim_owner() -> UnixListener {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse::<u32>().ok());
    match euid {
        Some(0) => {}
        Some(uid) => panic!("{NEEDS} (running as uid {uid})"),
        None => panic!("{NEEDS} (cannot read the effective uid from /proc/self/status)"),
    }
    if let Err(e) = try_run("ip", &["-V"]) {
        panic!("{NEEDS} ({e})");
    }
    // A sweeper tests the claim by taking it for a moment, so retry.
    let name = owner_claim(std::process::id());
    let deadline = Instant::now() + Duration::from_secs(5);
    let claim = loop {
        match claim(&name) {
            Ok(l) => break l,
            Err(e) if Instant::now() >= deadline => panic!(
                "cannot claim {name:?}: {e} (another process in this network namespace with \
                 the same pid, in another pid namespace?)"
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    // Names with this pid are older than this process: nothing in it has
    // created any yet.
    sweep(true);
    claim
}

/// Removes the namespaces, veths and bridges of test processes that are
/// gone, killing the processes still in those namespaces first. The first
/// [`super::Net::new`] of a process runs it; call it to clean up by hand.
pub fn sweep_stale() {
    sweep(false);
}

fn sweep(own_pid_too: bool) {
    let me = std::process::id();
    let stale = |name: &str| {
        parse_name(name).filter(|&(pid, _)| {
            if pid == me {
                own_pid_too
            } else {
                owner_gone(pid)
            }
        })
    };
    let namespaces: Vec<String> = try_run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| stale(n).is_some())
        .map(str::to_string)
        .collect();
    for ns in &namespaces {
        kill_all_in(ns);
    }
    let mut links: Vec<(Kind, String)> = try_run("ip", &["-br", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter_map(|n| Some((stale(n)?.1, n.to_string())))
        .collect();
    // Veths before the bridges they are attached to.
    links.sort();
    let links = links.into_iter().map(|(_, name)| ("link", name));
    let namespaces = namespaces.into_iter().map(|name| ("netns", name));
    for (what, name) in links.chain(namespaces) {
        match try_run("ip", &[what, "del", &name]) {
            Ok(_) => info!("removed {what} {name}, left by a test process that is gone"),
            Err(e) => debug!("{e}"),
        }
    }
}

/// What one of our names is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A host's veth or namespace: `h`.
    Host,
    /// A net's bridge: `n`.
    Net,
}

/// The owner's pid and the kind in one of our names: `fq<pid-hex>n<k>`,
/// `fq<pid-hex>h<k>`, or the latter followed by `-<name>`.
fn parse_name(name: &str) -> Option<(u32, Kind)> {
    let rest = name.strip_prefix("fq")?;
    let hex_len = rest.find(|c: char| !c.is_ascii_hexdigit())?;
    let (hex, rest) = rest.split_at(hex_len);
    let kind = match rest.chars().next()? {
        'h' => Kind::Host,
        'n' => Kind::Net,
        _ => return None,
    };
    let digits = rest[1..].split('-').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((u32::from_str_radix(hex, 16).ok()?, kind))
}

/// Whether the process that named things with `pid` is gone: each live one
/// holds [`owner_claim`] (an abstract socket, released by the kernel when
/// the process dies, and scoped to the network namespace, as the names are),
/// so this is right even when the pid was reused by another program.
fn owner_gone(pid: u32) -> bool {
    claim(&owner_claim(pid)).is_ok()
}

fn owner_claim(pid: u32) -> String {
    format!("ferromq-netns/pid/{pid}")
}

fn claim(name: &str) -> std::io::Result<UnixListener> {
    UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)
}

/// Claims a /24 of 10.200.0.0/16 that no other net and no address or route
/// of the root namespace uses, starting the search at `seed`.
pub(super) fn claim_subnet(seed: u32) -> (u8, UnixListener) {
    let used = used_prefixes();
    for i in 0..256u32 {
        let third = ((seed.wrapping_mul(2_654_435_761) >> 8).wrapping_add(i) % 256) as u8;
        let net = u32::from(Ipv4Addr::new(SUBNETS[0], SUBNETS[1], third, 0));
        let overlaps = used.iter().any(|&(addr, len)| {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(24)))
                .unwrap_or(0);
            addr & mask == net & mask
        });
        if overlaps {
            continue;
        }
        if let Ok(l) = claim(&format!("ferromq-netns/subnet/{third}")) {
            return (third, l);
        }
    }
    panic!("no free /24 left in 10.200.0.0/16 for a test network");
}

/// Prefixes of the root namespace's IPv4 addresses and routes.
fn used_prefixes() -> Vec<(u32, u8)> {
    let addrs = ip(&["-4", "-o", "addr", "show"]);
    let routes = ip(&["-4", "route", "show", "table", "all"]);
    let from_addrs = addrs.lines().filter_map(|l| {
        let mut words = l.split_whitespace();
        words.find(|&w| w == "inet")?;
        words.next()
    });
    let from_routes = routes.lines().filter_map(|l| l.split_whitespace().next());
    from_addrs
        .chain(from_routes)
        .filter_map(|p| {
            let (addr, len) = p.split_once('/').unwrap_or((p, "32"));
            Some((u32::from(addr.parse::<Ipv4Addr>().ok()?), len.parse().ok()?))
        })
        .collect()
}

pub(super) fn pids_in(netns: &str) -> Vec<u32> {
    try_run("ip", &["netns", "pids", netns])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// SIGKILLs every process in `netns` until none is left (a process that
/// exited is no longer in it, zombie or not), for [`KILL_TIMEOUT`] at most.
pub(super) fn kill_all_in(netns: &str) {
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let pids = pids_in(netns);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            warn!(
                netns,
                ?pids,
                "processes still alive {KILL_TIMEOUT:?} after SIGKILL"
            );
            return;
        }
        debug!(netns, ?pids, "killing");
        let _ = Command::new("kill")
            .arg("-9")
            .args(pids.iter().map(u32::to_string))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_name, Kind};

    #[test]
    fn names_give_their_owner_pid_and_kind() {
        assert_eq!(parse_name("fq1a2bn0"), Some((0x1a2b, Kind::Net)));
        assert_eq!(parse_name("fq1a2bh17"), Some((0x1a2b, Kind::Host)));
        assert_eq!(parse_name("fq1a2bh17-master"), Some((0x1a2b, Kind::Host)));
        assert_eq!(parse_name("fqbh3"), Some((0xb, Kind::Host)));
        for other in [
            "eth0", "fq", "fqzz", "fq12n", "fq12x3", "fq12n3x", "fq12h-a", "fqh1",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }
}
