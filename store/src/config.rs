//! Store configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ferromq_config::{hours, millis};
use serde::{Deserialize, Serialize};

use super::consume_queue::CQ_ENTRY_LEN;
use super::error::StoreError;

/// Smallest accepted segment size: a segment must hold at least a small
/// record and the end-of-segment marker, and tiny segments only make sense in
/// tests.
pub const MIN_SEGMENT_SIZE: u64 = 4096;

/// How the store makes appends durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushMode {
    /// An append resolves only after an fdatasync covers it; concurrent
    /// appends share one fdatasync (group commit).
    Sync,
    /// Appends resolve once written (into the page cache, or with
    /// `direct_io` from the store's block cache to the device) and
    /// readable; the log is fdatasynced every `async_flush_interval`.
    Async,
}

impl fmt::Display for FlushMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sync => "sync",
            Self::Async => "async",
        })
    }
}

/// A flush mode name that is neither `sync` nor `async`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flush mode {0:?}: expected \"sync\" or \"async\"")]
pub struct FlushModeError(String);

impl FromStr for FlushMode {
    type Err = FlushModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sync" => Ok(Self::Sync),
            "async" => Ok(Self::Async),
            _ => Err(FlushModeError(s.chars().take(32).collect())),
        }
    }
}

/// Where and how the store keeps its files.
///
/// Each setting is declared here once: its flag and config-file key (the
/// flag with `_` for `-`), default and help text are the attributes of its
/// field, and the broker flattens this struct into its own settings. Fields
/// marked `skip` have no flag; tests and the broker set them in code.
#[derive(Clone, Debug, clap::Args)]
pub struct StoreConfig {
    /// Store directory: commit log, consume queues, index, checkpoint and
    /// the broker's own state files
    #[arg(long = "store-dir", default_value = "./data")]
    pub dir: PathBuf,
    /// Commit-log segment size in bytes
    #[arg(long, default_value_t = 1 << 30)]
    pub segment_size: u64,
    /// Flush mode: sync (acknowledge after fsync) or async
    #[arg(long, default_value_t = FlushMode::Sync)]
    pub flush: FlushMode,
    /// Write new commit-log segments full of zeroes before use, so an
    /// fdatasync never has file-system metadata to commit [default: true
    /// with --flush sync, else false]
    ///
    /// An fdatasync of a range that was written before only flushes data;
    /// one of a freshly allocated range must also commit the file system's
    /// journal for the extents it converts, which costs a sync-flush send a
    /// good part of its latency. Written with O_DIRECT where the file
    /// system allows, so the page cache is left alone. Off by default with
    /// async flush, where nothing waits for an fdatasync and the zeroes
    /// would only double the disk writes.
    #[arg(long)]
    pub prefill_segments: Option<bool>,
    /// Keep up to two segments that retention deletes and reuse them as
    /// new ones: no discard stalls on delete, no fresh blocks to allocate
    /// (up to two segments of disk stay allocated)
    ///
    /// Kept in `commitlog-spare/`. A reused file's blocks are already
    /// written: no discard when it goes (on a file system mounted with
    /// `discard`, deleting a 1 GiB file stalls the device for a fraction of
    /// a second), no extents to convert or zeroes to prefill when it comes
    /// back. Above `disk_force_clean_ratio` segments are deleted, not kept.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub recycle_segments: bool,
    /// Write and read the commit log with O_DIRECT through the broker's own
    /// block cache instead of the page cache (used only where the file
    /// system allows it)
    ///
    /// Used only where it works: segment sizes a multiple of 1 MiB and a
    /// file system that takes O_DIRECT (checked at open; otherwise the page
    /// cache is used, with a log line). See docs/STORE.md for why.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub direct_io: bool,
    /// Memory for the commit log's block cache in bytes: the most recently
    /// written and read 1 MiB blocks, allocated as it fills
    #[arg(long, default_value_t = 64 << 20)]
    pub log_cache_size: u64,
    /// fsync period in milliseconds with async flush
    #[arg(long = "async-flush-interval-ms", value_name = "MS", default_value = "500", value_parser = millis)]
    pub async_flush_interval: Duration,
    /// Milliseconds a sync-flush send waits for its fdatasync before it is
    /// answered FlushDiskTimeout
    #[arg(long = "sync-flush-timeout-ms", value_name = "MS", default_value = "5000", value_parser = millis)]
    pub sync_flush_timeout: Duration,
    /// Largest message body in bytes
    #[arg(long, default_value_t = ferromq_protocol::DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_message_size: usize,
    /// Entries per consume-queue file (20 bytes each).
    #[arg(skip = 300_000u64)]
    pub cq_entries_per_file: u64,
    /// Stamped into every record; part of the offset message id. The
    /// broker sets it from its advertised address.
    #[arg(skip = SocketAddr::from(([127, 0, 0, 1], 0)))]
    pub store_host: SocketAddr,
    /// Largest total size of one batch send in bytes (a single message is
    /// limited by --max-message-size alone)
    #[arg(long, default_value_t = 4 << 20)]
    pub max_batch_bytes: usize,
    /// Hours a commit-log segment is kept (RocketMQ fileReservedTime)
    #[arg(long = "file-reserved-hours", value_name = "HOURS", default_value = "72", value_parser = hours)]
    pub file_reserved_time: Duration,
    /// Hour of the day (UTC) when expired segments are deleted even when
    /// the disk has room (RocketMQ deleteWhen)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..24))]
    pub delete_when_hour: u8,
    /// Disk usage (0-1) above which expired segments are deleted at any hour
    #[arg(long, default_value_t = 0.75)]
    pub disk_clean_ratio: f64,
    /// Disk usage (0-1) above which the oldest segments are deleted even if
    /// not expired
    #[arg(long, default_value_t = 0.85)]
    pub disk_force_clean_ratio: f64,
    /// Disk usage (0-1) above which sends are refused with DiskFull (reads
    /// go on)
    #[arg(long, default_value_t = 0.90)]
    pub disk_reject_ratio: f64,
    /// How often the retention thread measures the disk and deletes. Short
    /// (1 s, where RocketMQ checks every 10 s) so that deletions come a
    /// segment or two at a time, which the spare segments of
    /// `recycle_segments` take whole, instead of in bursts.
    #[arg(skip = Duration::from_secs(1))]
    pub retention_check_interval: Duration,
    /// Hash slots per index file (RocketMQ `maxHashSlotNum`).
    #[arg(skip = 5_000_000u32)]
    pub index_hash_slots: u32,
    /// Entries per index file (RocketMQ `maxIndexNum`); a full file is
    /// sealed and a new one started.
    #[arg(skip = 20_000_000u32)]
    pub index_max_entries: u32,
}

/// The declaration's defaults, without reading flags or the environment.
#[derive(clap::Parser)]
struct Defaults {
    #[command(flatten)]
    config: StoreConfig,
}

impl StoreConfig {
    /// The defaults (RocketMQ-like: 1 GiB segments, sync flush, 300 000
    /// entries per consume-queue file, 4 MiB batches, 72 h retention
    /// deleting at 04:00 UTC, disk thresholds 75 % / 85 % / 90 %, index
    /// files of 5 million slots and 20 million entries), with the store
    /// under `dir` stamping `store_host` into its records.
    pub fn new(dir: impl Into<PathBuf>, store_host: SocketAddr) -> Self {
        use clap::Parser;
        let mut config = match Defaults::try_parse_from(["store"]) {
            Ok(d) => d.config,
            // The defaults are constants; a test below parses them.
            Err(e) => unreachable!("the store's default settings do not parse: {e}"),
        };
        config.dir = dir.into();
        config.store_host = store_host;
        config
    }

    /// Whether new segments are written full of zeroes before use.
    pub(crate) fn prefill(&self) -> bool {
        self.prefill_segments
            .unwrap_or(self.flush == FlushMode::Sync)
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: String| Err(StoreError::InvalidConfig(m));
        if self.segment_size < MIN_SEGMENT_SIZE || self.segment_size > i64::MAX as u64 / 2 {
            return bad(format!(
                "segment_size {} is out of range (at least {MIN_SEGMENT_SIZE} bytes)",
                self.segment_size
            ));
        }
        if self.cq_entries_per_file == 0
            || self.cq_entries_per_file.checked_mul(CQ_ENTRY_LEN).is_none()
        {
            return bad(format!(
                "cq_entries_per_file {} is out of range",
                self.cq_entries_per_file
            ));
        }
        let largest = self.max_message_size as u64 + 64 * 1024;
        if largest > self.segment_size {
            tracing::warn!(
                segment_size = self.segment_size,
                max_message_size = self.max_message_size,
                "segment_size is close to or below max_message_size: batches that do not fit in one segment are refused"
            );
        }
        if self.async_flush_interval.is_zero() {
            return bad("async_flush_interval must be above zero".into());
        }
        if self.max_batch_bytes == 0 {
            return bad("max_batch_bytes must be above zero".into());
        }
        self.validate_retention()?;
        if self.index_hash_slots == 0 || self.index_max_entries < 2 {
            return bad(format!(
                "index_hash_slots {} / index_max_entries {} are out of range",
                self.index_hash_slots, self.index_max_entries
            ));
        }
        Ok(())
    }

    fn validate_retention(&self) -> Result<(), StoreError> {
        let bad = |m: String| Err(StoreError::InvalidConfig(m));
        if self.delete_when_hour > 23 {
            return bad(format!(
                "delete_when_hour {} is not an hour of the day (0-23)",
                self.delete_when_hour
            ));
        }
        let ratios = [
            self.disk_clean_ratio,
            self.disk_force_clean_ratio,
            self.disk_reject_ratio,
        ];
        let in_range = ratios.iter().all(|r| *r > 0.0 && *r <= 1.0);
        let ordered = ratios[0] <= ratios[1] && ratios[1] <= ratios[2];
        if !(in_range && ordered) {
            return bad(format!(
                "disk ratios must satisfy 0 < clean ({}) <= force clean ({}) <= reject ({}) <= 1",
                ratios[0], ratios[1], ratios[2]
            ));
        }
        if self.retention_check_interval.is_zero() {
            return bad("retention_check_interval must be above zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_mode_parses_and_prints() {
        assert_eq!("sync".parse::<FlushMode>().unwrap(), FlushMode::Sync);
        assert_eq!("ASYNC".parse::<FlushMode>().unwrap(), FlushMode::Async);
        assert!("fast".parse::<FlushMode>().is_err());
        assert_eq!(FlushMode::Async.to_string(), "async");
        assert_eq!(serde_json::to_string(&FlushMode::Sync).unwrap(), "\"sync\"");
    }

    #[test]
    fn defaults_parse_from_the_declaration() {
        let c = StoreConfig::new("/tmp/x", "127.0.0.1:1".parse().unwrap());
        assert_eq!(c.dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.store_host, "127.0.0.1:1".parse().unwrap());
        assert_eq!(c.segment_size, 1 << 30);
        assert_eq!(c.flush, FlushMode::Sync);
        assert_eq!(c.prefill_segments, None);
        assert!(c.recycle_segments && c.direct_io);
        assert_eq!(c.log_cache_size, 64 << 20);
        assert_eq!(c.async_flush_interval, Duration::from_millis(500));
        assert_eq!(c.sync_flush_timeout, Duration::from_secs(5));
        assert_eq!(
            c.max_message_size,
            ferromq_protocol::DEFAULT_MAX_MESSAGE_SIZE
        );
        assert_eq!(c.cq_entries_per_file, 300_000);
        assert_eq!(c.retention_check_interval, Duration::from_secs(1));
        assert_eq!(
            (c.index_hash_slots, c.index_max_entries),
            (5_000_000, 20_000_000)
        );
    }

    #[test]
    fn rejects_tiny_segments() {
        let mut c = StoreConfig::new("/tmp/x", "127.0.0.1:1".parse().unwrap());
        assert!(c.validate().is_ok());
        c.segment_size = 100;
        assert!(matches!(c.validate(), Err(StoreError::InvalidConfig(_))));
    }

    #[test]
    fn retention_defaults_and_checks() {
        let mut c = StoreConfig::new("/tmp/x", "127.0.0.1:1".parse().unwrap());
        assert_eq!(c.file_reserved_time, Duration::from_secs(72 * 3600));
        assert_eq!(c.delete_when_hour, 4);
        assert_eq!(c.max_batch_bytes, 4 << 20);
        assert_eq!(
            (
                c.disk_clean_ratio,
                c.disk_force_clean_ratio,
                c.disk_reject_ratio
            ),
            (0.75, 0.85, 0.90)
        );
        c.disk_force_clean_ratio = 0.95;
        assert!(matches!(c.validate(), Err(StoreError::InvalidConfig(_))));
        c.disk_force_clean_ratio = 0.85;
        c.delete_when_hour = 24;
        assert!(matches!(c.validate(), Err(StoreError::InvalidConfig(_))));
        c.delete_when_hour = 0;
        c.index_max_entries = 1;
        assert!(matches!(c.validate(), Err(StoreError::InvalidConfig(_))));
    }
}
