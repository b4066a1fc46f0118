//! Stores of stopped brokers, opened in the test to look at what they
//! hold: replication tests compare logs byte for byte.

use std::path::Path;
use std::sync::Arc;

use ferromq_store::{MessageStore, NoopListener, StoreConfig};

use crate::TEST_SEGMENT_SIZE;

/// Opens a stopped broker's store directory (segment size
/// [`TEST_SEGMENT_SIZE`], no retention by disk use).
///
/// # Panics
/// If the store does not open.
pub async fn open_store(dir: &Path) -> Arc<MessageStore> {
    let mut config = StoreConfig::new(dir, "127.0.0.1:1".parse().unwrap());
    config.segment_size = TEST_SEGMENT_SIZE;
    config.disk_clean_ratio = 1.0;
    config.disk_force_clean_ratio = 1.0;
    config.disk_reject_ratio = 1.0;
    tokio::task::spawn_blocking(move || MessageStore::open(config, Arc::new(NoopListener)))
        .await
        .unwrap()
        .unwrap()
}

/// Closes a store opened with [`open_store`].
///
/// # Panics
/// If it does not shut down cleanly.
pub async fn close_store(store: Arc<MessageStore>) {
    tokio::task::spawn_blocking(move || store.shutdown_blocking())
        .await
        .unwrap()
        .unwrap();
}

/// Every byte of `store`'s log from its start to `end`, as the master
/// serves it to slaves (records and end-of-segment markers).
///
/// # Panics
/// If the log has no bytes somewhere before `end`.
pub fn log_bytes(store: &MessageStore, end: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = store.commit_log_min_offset();
    while at.get() < end {
        let (b, next) = store.read_raw(at, 1 << 20).unwrap();
        assert!(!b.is_empty(), "no bytes at {at} before {end}");
        out.extend_from_slice(&b);
        at = next;
    }
    out
}
