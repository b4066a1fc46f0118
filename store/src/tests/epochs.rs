//! The epoch history through the store: begun, refused, kept across a
//! reopen, and a damaged file stops the open with the file named.

use ferromq_protocol::CommitLogOffset;

use super::*;
use crate::{Damage, EpochEntry, EpochError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_are_begun_checked_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert!(store.epochs().is_empty());
    store.begin_epoch(1, CommitLogOffset::new(0)).unwrap();
    append_n(&store, "Epochs", 0, 0, 10).await;
    let end = store.log_end();
    assert_eq!(end, store.flushed_end(), "sync mode: flushed on ack");
    match store.begin_epoch(2, CommitLogOffset::new(end.get() + 1)) {
        Err(StoreError::Epoch(EpochError::StartsBeyondEnd { .. })) => {}
        other => panic!("{other:?}"),
    }
    match store.begin_epoch(1, end) {
        Err(StoreError::Epoch(EpochError::NotAbove { epoch: 1, last: 1 })) => {}
        other => panic!("{other:?}"),
    }
    store.begin_epoch(2, end).unwrap();
    let want = vec![EpochEntry::new(1, 0), EpochEntry::new(2, end.get())];
    assert_eq!(store.epochs(), want);
    store.shutdown().await.unwrap();
    drop(store);

    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_eq!(store.epochs(), want, "kept across a reopen");
    store.shutdown().await.unwrap();
    drop(store);

    std::fs::write(dir.path().join("epochs"), b"damaged").unwrap();
    match MessageStore::open(
        config(dir.path(), FlushMode::Sync),
        Arc::new(Arrivals::default()),
    ) {
        Err(StoreError::CorruptFile { path, reason }) => {
            assert_eq!(path, dir.path().join("epochs"));
            assert_eq!(reason, Damage::ChecksumMismatch);
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("opened with a damaged epoch file"),
    }
}
