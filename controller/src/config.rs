//! Controller settings, declared once: `mqcontroller` and `mqnamesrv
//! --controller` flatten this struct into their command lines, and a
//! config file takes the same keys (the flag with `_` for `-`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;

/// Most controller nodes in a group.
pub const MAX_NODES: usize = 7;

/// How one controller node runs.
#[derive(Clone, Debug, clap::Args)]
pub struct ControllerConfig {
    /// This node's id among --controller-peers
    #[arg(long = "controller-id", value_name = "N")]
    pub controller_id: Option<u64>,
    /// Every controller node as ID-HOST:PORT, separated by `;`, e.g.
    /// `1-10.0.0.1:9878;2-10.0.0.2:9878;3-10.0.0.3:9878` (RocketMQ's
    /// controllerDLegerPeers; an `n` before the id is accepted). Three or
    /// five nodes; one for a trial
    #[arg(long = "controller-peers", value_name = "PEERS")]
    pub controller_peers: Option<String>,
    /// Address to listen on [default: this node's address in
    /// --controller-peers]
    #[arg(long = "controller-listen", value_name = "ADDR")]
    pub controller_listen: Option<String>,
    /// Where the Raft log, vote and snapshot are kept
    #[arg(
        long = "controller-dir",
        value_name = "DIR",
        default_value = "./data/controller"
    )]
    pub controller_dir: PathBuf,
    /// Elect a new master when a group's master has not heartbeated for
    /// this long
    #[arg(
        long = "broker-heartbeat-timeout-ms", value_name = "MS",
        default_value = "2000",
        value_parser = TypedValueParser::map(clap::value_parser!(u64).range(100..=600_000), Duration::from_millis),
    )]
    pub heartbeat_timeout: Duration,
    /// Look for silent masters this often
    #[arg(
        long = "controller-scan-interval-ms", value_name = "MS",
        default_value = "200",
        value_parser = TypedValueParser::map(clap::value_parser!(u64).range(10..=60_000), Duration::from_millis),
    )]
    pub controller_scan_interval: Duration,
    /// When no replica of the in-sync set is alive, elect another one
    /// anyway (acknowledged messages may be lost; Kafka's
    /// unclean.leader.election.enable)
    #[arg(long = "enable-elect-unclean-master")]
    pub elect_unclean: bool,
}

/// The declaration's defaults, without reading flags.
#[derive(clap::Parser)]
struct Defaults {
    #[command(flatten)]
    config: ControllerConfig,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        use clap::Parser;
        match Defaults::try_parse_from(["mqcontroller"]) {
            Ok(d) => d.config,
            // The defaults are constants; a test below parses them.
            Err(e) => unreachable!("the controller's default settings do not parse: {e}"),
        }
    }
}

/// A checked configuration: this node, every node, where to listen.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    /// This node's id.
    pub id: u64,
    /// Every node's address by id.
    pub peers: BTreeMap<u64, String>,
    /// Where to listen.
    pub listen: String,
}

/// Parses `1-host:port;2-host:port`.
///
/// # Errors
/// A message naming the bad part.
pub fn parse_peers(s: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut peers = BTreeMap::new();
    for part in s.split([';', ',']).map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('-')
            .ok_or_else(|| format!("controller peer `{part}` is not ID-HOST:PORT"))?;
        let id: u64 = id
            .trim_start_matches('n')
            .parse()
            .map_err(|_| format!("controller peer `{part}`: `{id}` is not a number"))?;
        if addr.is_empty() || addr.len() > 255 || !addr.contains(':') {
            return Err(format!(
                "controller peer `{part}`: `{addr}` is not HOST:PORT"
            ));
        }
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(format!("controller id {id} appears twice"));
        }
    }
    if peers.is_empty() {
        return Err("--controller-peers names no node".into());
    }
    if peers.len() > MAX_NODES {
        return Err(format!("at most {MAX_NODES} controller nodes"));
    }
    Ok(peers)
}

impl ControllerConfig {
    /// Checks the settings and works out this node's place.
    ///
    /// # Errors
    /// A message for the operator: a missing id or peer list, an id that
    /// is not among the peers, a malformed peer.
    pub fn setup(&self) -> Result<NodeSetup, String> {
        let id = self.controller_id.ok_or("--controller-id is required")?;
        let peers = parse_peers(
            self.controller_peers
                .as_deref()
                .ok_or("--controller-peers is required")?,
        )?;
        let own = peers
            .get(&id)
            .ok_or_else(|| format!("--controller-id {id} is not among --controller-peers"))?;
        if self.controller_scan_interval >= self.heartbeat_timeout {
            return Err(
                "--controller-scan-interval-ms must be below --broker-heartbeat-timeout-ms".into(),
            );
        }
        let listen = self
            .controller_listen
            .clone()
            .unwrap_or_else(|| own.clone());
        Ok(NodeSetup { id, peers, listen })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_need_an_id_and_peers() {
        let c = ControllerConfig::default();
        assert_eq!(c.heartbeat_timeout, Duration::from_secs(2));
        assert!(!c.elect_unclean);
        assert!(c.setup().is_err());
    }

    #[test]
    fn peers_parse_and_bad_ones_are_named() {
        let p = parse_peers("n1-127.0.0.1:9878; 2-10.0.0.2:9878;3-h:1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.len(), 3);
        assert_eq!(p[&2], "10.0.0.2:9878");
        for bad in ["", "1", "x-a:1", "1-a:1;1-b:2", "1-nocolon"] {
            assert!(parse_peers(bad).is_err(), "{bad}");
        }
        let c = ControllerConfig {
            controller_id: Some(4),
            controller_peers: Some("1-a:1;2-b:2".into()),
            ..Default::default()
        };
        let err = c.setup().err().unwrap_or_default();
        assert!(err.contains("not among"), "{err}");
        let c = ControllerConfig {
            controller_id: Some(2),
            ..c
        };
        let s = c.setup().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.id, s.listen.as_str()), (2, "b:2"));
    }
}
