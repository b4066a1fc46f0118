//! Broker settings. The binary fills them from defaults, then an optional
//! TOML file, then command-line flags (flags win).

use std::path::PathBuf;
use std::time::Duration;

use ferromq_protocol::header::DEFAULT_DELAY_LEVELS;
use ferromq_protocol::{BrokerName, ClusterName, DEFAULT_MAX_FRAME_LEN, DEFAULT_MAX_MESSAGE_SIZE};
use serde::Deserialize;

use ferromq_store::FlushMode;

/// Everything a broker needs to run.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// Broker name, shared by a master and its slaves.
    pub broker_name: BrokerName,
    /// Cluster name.
    pub cluster: ClusterName,
    /// 0 for a master.
    pub broker_id: u64,
    /// NameServers to register with.
    pub namesrv_addrs: Vec<String>,
    /// Address clients are told to use; defaults to the listener's address
    /// (with 127.0.0.1 for an unspecified IP).
    pub advertise_addr: Option<String>,
    /// Root of the store and the broker's own config files.
    pub store_dir: PathBuf,
    /// Flush mode.
    pub flush: FlushMode,
    /// Commit-log segment size in bytes.
    pub segment_size: u64,
    /// Write each new commit-log segment full of zeroes before use (`None`:
    /// only with sync flush). See `StoreConfig::prefill_segments`.
    pub prefill_segments: Option<bool>,
    /// Commit log through O_DIRECT and the store's block cache. See
    /// `StoreConfig::direct_io`.
    pub direct_io: bool,
    /// Keep up to two deleted segments for reuse. See
    /// `StoreConfig::recycle_segments`.
    pub recycle_segments: bool,
    /// Bytes of the commit log's block cache. See
    /// `StoreConfig::log_cache_size`.
    pub log_cache_size: u64,
    /// Largest message body accepted.
    pub max_message_size: usize,
    /// Largest frame accepted.
    pub max_frame_len: usize,
    /// How long a sync-flush send waits for its fsync before answering
    /// `FlushDiskTimeout`.
    pub sync_flush_timeout: Duration,
    /// Longest a pull may be held (the client asks for 15 s by default).
    pub max_pull_hold: Duration,
    /// Period of NameServer registration.
    pub register_interval: Duration,
    /// Expiry the NameServer should apply to this broker (`None`: its default).
    pub heartbeat_timeout: Option<Duration>,
    /// Period of consumer-offset persistence.
    pub offset_flush_interval: Duration,
    /// Largest total size of one batch send.
    pub max_batch_bytes: usize,
    /// Async-flush period.
    pub async_flush_interval: Duration,
    /// Commit-log segments older than this are deleted (72 h).
    pub file_reserved_time: Duration,
    /// Hour of the day (UTC) when expired segments are deleted (4).
    pub delete_when_hour: u8,
    /// Disk usage above which expired segments are deleted at any hour (0.75).
    pub disk_clean_ratio: f64,
    /// Disk usage above which the oldest segments are deleted even if not
    /// expired (0.85).
    pub disk_force_clean_ratio: f64,
    /// Disk usage above which sends are refused (0.90).
    pub disk_reject_ratio: f64,
    /// Create topics on first send (and register `TBW102` so producers
    /// know this broker does).
    pub auto_create_topic: bool,
    /// Delay levels of scheduled delivery and retries, e.g.
    /// `"1s 5s 10s 30s 1m … 2h"` (units ms, s, m, h, d); checked at start.
    pub message_delay_levels: String,
    /// A consumer client that has not sent a heartbeat for this long leaves
    /// its groups (120 s).
    pub client_channel_expiry: Duration,
    /// How often consumer clients are checked for expiry and closed
    /// connections (1 s).
    pub client_scan_interval: Duration,
    /// A queue lock not renewed for this long is free again (60 s).
    pub queue_lock_expiry: Duration,
}

impl BrokerConfig {
    /// Defaults a RocketMQ user expects, with the store under `store_dir`.
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        Self {
            broker_name: BrokerName::new("broker-a").unwrap_or_else(|_| unreachable!()),
            cluster: ClusterName::new("DefaultCluster").unwrap_or_else(|_| unreachable!()),
            broker_id: 0,
            namesrv_addrs: vec!["127.0.0.1:9876".to_string()],
            advertise_addr: None,
            store_dir: store_dir.into(),
            flush: FlushMode::Sync,
            segment_size: 1 << 30,
            prefill_segments: None,
            direct_io: true,
            recycle_segments: true,
            log_cache_size: 64 << 20,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            sync_flush_timeout: Duration::from_secs(5),
            max_pull_hold: Duration::from_secs(30),
            register_interval: Duration::from_secs(30),
            heartbeat_timeout: None,
            offset_flush_interval: Duration::from_secs(5),
            auto_create_topic: false,
            max_batch_bytes: 4 * 1024 * 1024,
            async_flush_interval: Duration::from_millis(500),
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when_hour: 4,
            disk_clean_ratio: 0.75,
            disk_force_clean_ratio: 0.85,
            disk_reject_ratio: 0.90,
            message_delay_levels: DEFAULT_DELAY_LEVELS.to_string(),
            client_channel_expiry: Duration::from_secs(120),
            client_scan_interval: Duration::from_secs(1),
            queue_lock_expiry: Duration::from_secs(60),
        }
    }
}

impl BrokerConfig {
    /// The store's settings: the store directory, this broker's store host
    /// (stamped into every record), and the store settings of `self`.
    pub fn store_config(&self, store_host: std::net::SocketAddr) -> ferromq_store::StoreConfig {
        let mut sc = ferromq_store::StoreConfig::new(&self.store_dir, store_host);
        sc.segment_size = self.segment_size;
        sc.flush = self.flush;
        sc.prefill_segments = self.prefill_segments;
        sc.direct_io = self.direct_io;
        sc.recycle_segments = self.recycle_segments;
        sc.log_cache_size = self.log_cache_size;
        sc.max_message_size = self.max_message_size;
        sc.sync_flush_timeout = self.sync_flush_timeout;
        sc.max_batch_bytes = self.max_batch_bytes;
        sc.async_flush_interval = self.async_flush_interval;
        sc.file_reserved_time = self.file_reserved_time;
        sc.delete_when_hour = self.delete_when_hour;
        sc.disk_clean_ratio = self.disk_clean_ratio;
        sc.disk_force_clean_ratio = self.disk_force_clean_ratio;
        sc.disk_reject_ratio = self.disk_reject_ratio;
        sc
    }
}

/// The TOML file's shape: every key optional, unknown keys rejected so a
/// typo is an error rather than a silently ignored setting.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FileConfig {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--namesrv-addr`, `;`-separated.
    pub namesrv_addr: Option<String>,
    /// `--advertise-addr`.
    pub advertise_addr: Option<String>,
    /// `--store-dir`.
    pub store_dir: Option<PathBuf>,
    /// `--broker-name`.
    pub broker_name: Option<BrokerName>,
    /// `--cluster`.
    pub cluster: Option<ClusterName>,
    /// `--broker-id`.
    pub broker_id: Option<u64>,
    /// `--flush`.
    pub flush: Option<FlushMode>,
    /// `--standalone`.
    pub standalone: Option<bool>,
    /// NameServer listen address in standalone mode.
    pub namesrv_listen: Option<String>,
    /// Commit-log segment size in bytes.
    pub segment_size: Option<u64>,
    /// Largest message body in bytes.
    pub max_message_size: Option<usize>,
    /// Sync-flush timeout in milliseconds.
    pub sync_flush_timeout_ms: Option<u64>,
    /// NameServer registration period in milliseconds.
    pub register_interval_ms: Option<u64>,
    /// `--auto-create-topic`.
    pub auto_create_topic: Option<bool>,
    /// `--prefill-segments`.
    pub prefill_segments: Option<bool>,
    /// `--direct-io`.
    pub direct_io: Option<bool>,
    /// `--recycle-segments`.
    pub recycle_segments: Option<bool>,
    /// `--log-cache-size`, in bytes.
    pub log_cache_size: Option<u64>,
    /// Largest total size of one batch send in bytes.
    pub max_batch_bytes: Option<usize>,
    /// Async-flush period in milliseconds.
    pub async_flush_interval_ms: Option<u64>,
    /// Hours a commit-log segment is kept (`fileReservedTime`).
    pub file_reserved_hours: Option<u64>,
    /// Hour of the day (UTC, 0-23) when expired segments are deleted.
    pub delete_when_hour: Option<u8>,
    /// Disk usage (0-1) above which expired segments are deleted at any hour.
    pub disk_clean_ratio: Option<f64>,
    /// Disk usage (0-1) above which the oldest segments are deleted.
    pub disk_force_clean_ratio: Option<f64>,
    /// Disk usage (0-1) above which sends are refused.
    pub disk_reject_ratio: Option<f64>,
    /// `--message-delay-levels`.
    pub message_delay_levels: Option<String>,
    /// Milliseconds without a heartbeat after which a consumer client
    /// leaves its groups.
    pub client_channel_expiry_ms: Option<u64>,
    /// Milliseconds after which an unrenewed queue lock is free.
    pub queue_lock_expiry_ms: Option<u64>,
}

impl FileConfig {
    /// Parses a TOML document.
    ///
    /// # Errors
    /// The TOML error, which names the offending key.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Splits `a:9876;b:9876` into addresses.
pub fn split_addrs(s: &str) -> Vec<String> {
    s.split([';', ','])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_config_parses_and_rejects_typos() {
        let c = FileConfig::parse(
            "flush = \"async\"\nbroker_name = \"b1\"\nnamesrv_addr = \"a:1;b:2\"",
        )
        .unwrap();
        assert_eq!(c.flush, Some(FlushMode::Async));
        assert_eq!(c.broker_name.unwrap().as_str(), "b1");
        assert_eq!(split_addrs(&c.namesrv_addr.unwrap()), vec!["a:1", "b:2"]);
        assert!(FileConfig::parse("flsuh = \"sync\"").is_err());
        assert!(FileConfig::parse("broker_name = \"../x\"").is_err());
        let c = FileConfig::parse(
            "message_delay_levels = \"1s 2s\"\nclient_channel_expiry_ms = 5000\nqueue_lock_expiry_ms = 100",
        )
        .unwrap();
        assert_eq!(c.message_delay_levels.as_deref(), Some("1s 2s"));
        assert_eq!(c.client_channel_expiry_ms, Some(5000));
        assert_eq!(c.queue_lock_expiry_ms, Some(100));
    }
}
