//! Broker settings, each declared once: its flag and config-file key (the
//! flag with `_` for `-`), environment variable where one exists, default
//! and help text are the attributes of its field. The store's settings are
//! the store's own declaration ([`StoreConfig`]), flattened in, so they
//! reach the store without a copy. `mqbroker` layers defaults, a TOML file,
//! the environment and flags over this declaration (`ferromq_config`).

use std::path::PathBuf;
use std::time::Duration;

use ferromq_config::millis;
use ferromq_protocol::header::DEFAULT_DELAY_LEVELS;
use ferromq_protocol::{BrokerName, ClusterName, DEFAULT_MAX_FRAME_LEN};
use ferromq_store::StoreConfig;

/// Everything a broker needs to run. Fields marked `skip` have no flag;
/// tests set them in code.
#[derive(Clone, Debug, clap::Args)]
pub struct BrokerConfig {
    /// Broker name, shared by a master and its slaves
    #[arg(long, default_value = "broker-a")]
    pub broker_name: BrokerName,
    /// Cluster name
    #[arg(long, default_value = "DefaultCluster")]
    pub cluster: ClusterName,
    /// Broker id; 0 is the master
    #[arg(long, default_value_t = 0)]
    pub broker_id: u64,
    /// NameServer addresses, `;`-separated
    // A fully qualified Vec: one value holding the whole list, which
    // `split_addrs` splits, instead of clap's repeated flag.
    #[arg(
        short = 'n',
        long = "namesrv-addr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876",
        value_parser = split_addrs_arg,
    )]
    pub namesrv_addrs: ::std::vec::Vec<String>,
    /// Address clients should use to reach this broker [default: the listen
    /// address, with 127.0.0.1 for an unspecified IP]
    #[arg(long)]
    pub advertise_addr: Option<String>,
    /// Largest frame accepted.
    #[arg(skip = DEFAULT_MAX_FRAME_LEN)]
    pub max_frame_len: usize,
    /// Connections from one IP address at once (broker and HA ports);
    /// more are closed when accepted
    #[arg(long, default_value_t = 2048, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |v| v as usize))]
    pub max_connections_per_ip: usize,
    /// A started frame, and a new connection's first frame, must be whole
    /// within this many milliseconds, else the connection is closed
    #[arg(long = "frame-timeout-ms", value_name = "MS", default_value = "60000", value_parser = millis)]
    pub frame_timeout: Duration,
    /// Longest a pull may be held (the client asks for 15 s by default).
    #[arg(skip = Duration::from_secs(30))]
    pub max_pull_hold: Duration,
    /// NameServer registration period in milliseconds
    #[arg(long = "register-interval-ms", value_name = "MS", default_value = "30000", value_parser = millis)]
    pub register_interval: Duration,
    /// Expiry the NameServer should apply to this broker (`None`: its default).
    #[arg(skip)]
    pub heartbeat_timeout: Option<Duration>,
    /// Period of consumer-offset persistence.
    #[arg(skip = Duration::from_secs(5))]
    pub offset_flush_interval: Duration,
    /// Create topics on first send, and register `TBW102` so producers know
    /// this broker does [default: true with --standalone, else false]
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, hide_default_value = true)]
    pub auto_create_topic: bool,
    /// Delay levels of scheduled messages and retries, units ms/s/m/h/d;
    /// checked at start
    #[arg(long, default_value = DEFAULT_DELAY_LEVELS)]
    pub message_delay_levels: String,
    /// Milliseconds without a heartbeat after which a consumer client leaves
    /// its groups
    #[arg(long = "client-channel-expiry-ms", value_name = "MS", default_value = "120000", value_parser = millis)]
    pub client_channel_expiry: Duration,
    /// How often consumer clients are checked for expiry and closed
    /// connections.
    #[arg(skip = Duration::from_secs(1))]
    pub client_scan_interval: Duration,
    /// Milliseconds after which a queue lock that was not renewed is free
    #[arg(long = "queue-lock-expiry-ms", value_name = "MS", default_value = "60000", value_parser = millis)]
    pub queue_lock_expiry: Duration,
    /// Replication within the broker group (HA port, master and slaves).
    #[command(flatten)]
    pub ha: HaConfig,
    /// The store's settings (directory, segments, flush, retention, cache).
    #[command(flatten)]
    pub store: StoreConfig,
}

/// How a master acknowledges sends with respect to its slaves (RocketMQ's
/// SYNC_MASTER and ASYNC_MASTER).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplicationMode {
    /// A send is acknowledged once enough in-sync replicas have it on
    /// their own flush.
    Sync,
    /// A send is acknowledged after the master's own flush; slaves follow
    /// as fast as they can.
    Async,
}

/// Replication settings of a broker group: a master (broker id 0) streams
/// its commit log to its slaves over the HA port.
#[derive(Clone, Debug, clap::Args)]
pub struct HaConfig {
    /// Address of the HA port slaves connect to [default: the broker's
    /// listen address with its port + 1, i.e. 10912]
    #[arg(long)]
    pub ha_listen: Option<String>,
    /// On a master: sync (a send waits for in-sync slaves) or async
    #[arg(long, value_enum, default_value_t = ReplicationMode::Async)]
    pub replication: ReplicationMode,
    /// Replicas that must have a message before a sync send is
    /// acknowledged, counting the master [default: 2 with --replication
    /// sync, 1 with async]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_in_sync_replicas: Option<u32>,
    /// On a slave: the master's HA address [default: learnt from the
    /// NameServers, id 0 of this broker name, port + 1]
    #[arg(long)]
    pub master_addr: Option<String>,
    /// Bytes a slave may lag behind before it leaves the in-sync set
    /// (RocketMQ haMaxGapNotInSync)
    #[arg(long, default_value_t = 256 << 20)]
    pub ha_max_gap_not_in_sync: u64,
    /// Milliseconds a slave may be silent before it leaves the in-sync set
    #[arg(long = "ha-in-sync-timeout-ms", value_name = "MS", default_value = "5000", value_parser = millis)]
    pub ha_in_sync_timeout: Duration,
    /// Send a consumer that is far behind to a slave (RocketMQ
    /// slaveReadEnable): its pulls are answered with a suggestion to read
    /// from broker id 1 while the log holds more than
    /// --slave-read-lag-bytes after what it reads, and to come back to the
    /// master (id 0) once it is closer
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub slave_read_enable: bool,
    /// How far behind the log's end a pull must read for
    /// --slave-read-enable to send it to a slave
    #[arg(long, default_value_t = 256 << 20)]
    pub slave_read_lag_bytes: u64,
    /// Controller mode (RocketMQ's enableControllerMode): the controller
    /// nodes, `host:port` separated by `;`. The controller assigns this
    /// broker's id and decides which replica of the group is master;
    /// --broker-id and --master-addr are then ignored
    #[arg(long, value_name = "ADDRS")]
    pub controller_addr: Option<String>,
    /// Controller mode: heartbeat the controller this often
    #[arg(long = "controller-heartbeat-interval-ms", value_name = "MS", default_value = "500", value_parser = millis)]
    pub controller_heartbeat_interval: Duration,
    /// Controller mode: a master that has not had a heartbeat answered for
    /// this long (counted from when it was sent) stops taking sends. Keep
    /// it below the controller's --broker-heartbeat-timeout-ms, after
    /// which the controller elects another master
    #[arg(long = "controller-lease-ms", value_name = "MS", default_value = "1500", value_parser = millis)]
    pub controller_lease: Duration,
}

impl HaConfig {
    /// `--min-in-sync-replicas`, or its default for the replication mode.
    pub fn min_in_sync_replicas(&self) -> u32 {
        self.min_in_sync_replicas.unwrap_or(match self.replication {
            ReplicationMode::Sync => 2,
            ReplicationMode::Async => 1,
        })
    }
}

/// The declaration's defaults, read without flags or environment.
#[derive(clap::Parser)]
struct Defaults {
    #[command(flatten)]
    config: BrokerConfig,
}

impl BrokerConfig {
    /// Defaults a RocketMQ user expects, with the store under `store_dir`.
    /// Environment variables (`NAMESRV_ADDR`) are not read.
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Defaults::command().mut_args(|a| a.env(None));
        let parsed = cmd
            .try_get_matches_from(["mqbroker"])
            .and_then(|m| Defaults::from_arg_matches(&m));
        let mut config = match parsed {
            Ok(d) => d.config,
            // The defaults are constants; a test below parses them.
            Err(e) => unreachable!("the broker's default settings do not parse: {e}"),
        };
        config.store.dir = store_dir.into();
        config
    }

    /// The store's settings, stamping `store_host` into every record.
    pub fn store_config(&self, store_host: std::net::SocketAddr) -> StoreConfig {
        StoreConfig {
            store_host,
            ..self.store.clone()
        }
    }
}

/// Splits `a:9876;b:9876` (or `,`-separated) into addresses.
pub fn split_addrs(s: &str) -> Vec<String> {
    s.split([';', ','])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

fn split_addrs_arg(s: &str) -> Result<Vec<String>, std::convert::Infallible> {
    Ok(split_addrs(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_store::FlushMode;

    #[test]
    fn defaults_parse_from_the_declaration() {
        let c = BrokerConfig::new("/tmp/b");
        assert_eq!(c.store.dir, PathBuf::from("/tmp/b"));
        assert_eq!(c.broker_name.as_str(), "broker-a");
        assert_eq!(c.cluster.as_str(), "DefaultCluster");
        assert_eq!(c.broker_id, 0);
        assert_eq!(c.max_connections_per_ip, 2048);
        assert_eq!(c.frame_timeout, Duration::from_secs(60));
        assert_eq!(c.namesrv_addrs, vec!["127.0.0.1:9876"]);
        assert_eq!(c.register_interval, Duration::from_secs(30));
        assert_eq!(c.client_channel_expiry, Duration::from_secs(120));
        assert_eq!(c.queue_lock_expiry, Duration::from_secs(60));
        assert_eq!(c.max_pull_hold, Duration::from_secs(30));
        assert_eq!(c.message_delay_levels, DEFAULT_DELAY_LEVELS);
        assert!(!c.auto_create_topic);
        assert_eq!(c.store.flush, FlushMode::Sync);
        assert_eq!(c.store.file_reserved_time, Duration::from_secs(72 * 3600));
        assert_eq!(c.store.max_batch_bytes, 4 << 20);
        assert_eq!(c.ha.replication, ReplicationMode::Async);
        assert_eq!(c.ha.min_in_sync_replicas(), 1);
        assert_eq!(c.ha.ha_max_gap_not_in_sync, 256 << 20);
        assert_eq!(c.ha.ha_listen, None);
    }

    #[test]
    fn file_keys_are_the_flags_and_typos_are_refused() {
        #[derive(clap::Parser)]
        struct Args {
            #[arg(long)]
            config: Option<PathBuf>,
            #[command(flatten)]
            broker: BrokerConfig,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        let parse = |text: &str| {
            std::fs::write(&path, text).unwrap();
            ferromq_config::parse::<Args, _>(
                ["mqbroker".as_ref(), "--config".as_ref(), path.as_os_str()],
                "config",
            )
            .map(|l| l.value.broker)
        };
        let c =
            parse("flush = \"async\"\nbroker_name = \"b1\"\nnamesrv_addr = \"a:1;b:2\"").unwrap();
        assert_eq!(c.store.flush, FlushMode::Async);
        assert_eq!(c.broker_name.as_str(), "b1");
        assert_eq!(c.namesrv_addrs, vec!["a:1", "b:2"]);
        assert!(parse("flsuh = \"sync\"").is_err());
        assert!(parse("broker_name = \"../x\"").is_err());
        let c = parse(
            "message_delay_levels = \"1s 2s\"\nclient_channel_expiry_ms = 5000\nqueue_lock_expiry_ms = 100\n\
             file_reserved_hours = 2\nsync_flush_timeout_ms = 7\ndisk_reject_ratio = 1.0\nstore_dir = \"/s\"",
        )
        .unwrap();
        assert_eq!(c.message_delay_levels, "1s 2s");
        assert_eq!(c.client_channel_expiry, Duration::from_millis(5000));
        assert_eq!(c.queue_lock_expiry, Duration::from_millis(100));
        assert_eq!(c.store.file_reserved_time, Duration::from_secs(7200));
        assert_eq!(c.store.sync_flush_timeout, Duration::from_millis(7));
        assert_eq!(c.store.disk_reject_ratio, 1.0);
        assert_eq!(c.store.dir, PathBuf::from("/s"));
        let c = parse("replication = \"sync\"\nbroker_id = 1\nmaster_addr = \"10.0.0.1:10912\"")
            .unwrap();
        assert_eq!(c.ha.replication, ReplicationMode::Sync);
        assert_eq!(c.ha.min_in_sync_replicas(), 2);
        assert_eq!(c.ha.master_addr.as_deref(), Some("10.0.0.1:10912"));
        assert!(parse("replication = \"sometimes\"").is_err());
        assert!(parse("min_in_sync_replicas = 0").is_err());
    }
}
