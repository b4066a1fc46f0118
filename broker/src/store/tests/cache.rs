//! The commit log with O_DIRECT and the block cache (the default), and
//! without it (the page cache). The other store tests run with direct I/O
//! and 64 KiB blocks (their 64 KiB segments).

use super::*;

/// A cache of two blocks: everything but the newest data is read back
/// from disk.
fn tiny_cache(dir: &Path, flush: FlushMode) -> StoreConfig {
    let mut c = config(dir, flush);
    c.log_cache_size = 2 * 64 * 1024;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_uses_direct_io_where_the_file_system_allows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Direct", 0, 0, 20).await;
    wait_visible(&arrivals, "Direct", 0, 20);
    assert_queue(&store, "Direct", 0, 20);
    let s = store.stats();
    assert!(
        s.direct_io,
        "temp dirs here are on a file system with O_DIRECT"
    );
    // Just written: every block read was still cached.
    assert!(s.cache_hits > 0);
    assert_eq!(s.cache_misses, 0);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beyond_the_cache_come_back_from_disk_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open_with(tiny_cache(dir.path(), FlushMode::Async));
    // About 10 segments of 64 KiB, interleaved over 4 queues.
    for round in 0..10 {
        for q in 0..4 {
            append_batches(&store, "Far", q, round * 25, 25).await;
        }
    }
    for q in 0..4 {
        wait_visible(&arrivals, "Far", q, 250);
    }
    for q in 0..4 {
        assert_queue(&store, "Far", q, 250);
    }
    let s = store.stats();
    assert!(s.cache_misses > 10, "old blocks were loaded: {s:?}");
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

/// After a reopen the writer continues inside a block it has not cached:
/// it must load that block's head from disk, or its first O_DIRECT write
/// would overwrite the last records before it with zeroes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_on_after_a_reopen_keeps_the_records_before() {
    let dir = tempfile::tempdir().unwrap();
    for (round, clean) in [(0u64, true), (1, false), (2, true), (3, false)] {
        let (store, arrivals) = open_with(tiny_cache(dir.path(), FlushMode::Sync));
        append_n(&store, "Reopen", 0, round * 7, 7).await;
        wait_visible(&arrivals, "Reopen", 0, round * 7 + 7);
        if clean {
            store.shutdown().await.unwrap();
        } else {
            store.crash();
        }
    }
    let (store, _) = open_with(tiny_cache(dir.path(), FlushMode::Sync));
    assert_queue(&store, "Reopen", 0, 28);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_direct_io_the_log_goes_through_the_page_cache() {
    let dir = tempfile::tempdir().unwrap();
    let page_cache = |dir: &Path| {
        let mut c = config(dir, FlushMode::Sync);
        c.direct_io = false;
        c
    };
    let (store, arrivals) = open_with(page_cache(dir.path()));
    for q in 0..3 {
        append_batches(&store, "Buffered", q, 0, 120).await;
    }
    wait_visible(&arrivals, "Buffered", 2, 120);
    let s = store.stats();
    assert!(!s.direct_io);
    assert_eq!((s.cache_hits, s.cache_misses), (0, 0));
    store.crash();
    drop(store);

    // The same files open with direct I/O, and the other way round.
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    assert!(store.stats().direct_io);
    append_batches(&store, "Buffered", 0, 120, 30).await;
    wait_visible(&arrivals, "Buffered", 0, 150);
    store.crash();
    drop(store);
    let (store, _) = open_with(page_cache(dir.path()));
    assert_queue(&store, "Buffered", 0, 150);
    assert_queue(&store, "Buffered", 1, 120);
    assert_queue(&store, "Buffered", 2, 120);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}
