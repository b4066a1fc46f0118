//! A push consumer's settings, fixed at build time, and their defaults.

use std::path::PathBuf;
use std::time::Duration;

use ferromq_protocol::header::MessageModel;

use super::allocate::AllocateStrategy;
use super::window::Limits;
use crate::consumer::ConsumeFrom;

/// Where a group starts on a queue it never committed an offset on. A
/// committed offset always wins. Retry topics always start at their first
/// offset, so no pending retry is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsumeFromWhere {
    /// Only messages stored after the consumer first looked.
    #[default]
    LastOffset,
    /// The oldest message the broker still has.
    FirstOffset,
    /// The first message stored at or after this time (ms since the
    /// epoch).
    Timestamp(u64),
}

impl From<ConsumeFrom> for ConsumeFromWhere {
    fn from(c: ConsumeFrom) -> Self {
        match c {
            ConsumeFrom::LastOffset => Self::LastOffset,
            ConsumeFrom::FirstOffset => Self::FirstOffset,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) model: MessageModel,
    pub(super) consume_from: ConsumeFromWhere,
    pub(super) allocate: AllocateStrategy,
    pub(super) consume_threads: usize,
    pub(super) consume_batch_size: usize,
    pub(super) pull_batch_size: u32,
    pub(super) limits: Limits,
    pub(super) long_poll_hold: Duration,
    pub(super) rebalance_interval: Duration,
    pub(super) heartbeat_interval: Duration,
    pub(super) offset_persist_interval: Duration,
    pub(super) max_reconsume_times: Option<u32>,
    pub(super) suspend_time: Duration,
    pub(super) local_offset_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: MessageModel::Clustering,
            consume_from: ConsumeFromWhere::LastOffset,
            allocate: AllocateStrategy::Averagely,
            consume_threads: 20,
            consume_batch_size: 1,
            pull_batch_size: 32,
            limits: Limits {
                messages: 1000,
                bytes: 100 * 1024 * 1024,
            },
            long_poll_hold: Duration::from_secs(15),
            rebalance_interval: Duration::from_secs(20),
            heartbeat_interval: Duration::from_secs(30),
            offset_persist_interval: Duration::from_secs(5),
            max_reconsume_times: None,
            suspend_time: Duration::from_secs(1),
            local_offset_dir: default_offset_dir(),
        }
    }
}

impl Settings {
    /// Local reconsume limit of orderly consumption (the group's limit is
    /// only known to the broker): the configured one, else RocketMQ's 16.
    pub(super) fn orderly_max_reconsume(&self) -> u32 {
        self.max_reconsume_times
            .unwrap_or(ferromq_protocol::header::DEFAULT_MAX_RECONSUME_TIMES)
    }
}

/// `$HOME/.ferromq_offsets`, else `<tmp>/ferromq_offsets`.
fn default_offset_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".ferromq_offsets")
}
