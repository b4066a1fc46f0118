//! The commit log with O_DIRECT and the block cache (the default), and
//! without it (the page cache). The other store tests run with direct I/O
//! and 64 KiB blocks (their 64 KiB segments).

use ferromq_protocol::{QueueId, QueueOffset};

use super::super::cache::READ_AHEAD;
use super::*;

/// `config` with another segment size.
fn sized(dir: &Path, flush: FlushMode, segment_size: u64) -> StoreConfig {
    let mut c = config(dir, flush);
    c.segment_size = segment_size;
    c
}

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

/// 4 MiB segments, so the cache's blocks are 1 MiB and a large batch spans
/// several of them: with eight blocks of cache, up to four go to the device
/// in one vectored write; with two, one at a time (holding more would
/// leave no slot to fill). A fresh store (empty cache) reads every record
/// back from disk, and the writer continues inside the last block after
/// each reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_across_several_blocks_reaches_the_disk_whole() {
    for cache in [8 << 20, 2 << 20] {
        wide_writes(cache).await;
    }
}

async fn wide_writes(cache: u64) {
    let dir = tempfile::tempdir().unwrap();
    let wide = |dir: &Path| {
        let mut c = sized(dir, FlushMode::Sync, 4 << 20);
        c.log_cache_size = cache;
        c.cq_entries_per_file = 4096;
        c.index_max_entries = 16384;
        c
    };
    let t = topic("Wide");
    let mut n = 0u64;
    for _ in 0..2 {
        let (store, arrivals) = open_with(wide(dir.path()));
        // A few single records first, so the big batch starts inside a
        // block (and, after a reopen, inside one the cache never held).
        append_n(&store, "Wide", 0, n, 3).await;
        n += 3;
        let bodies: Vec<Vec<u8>> = (n..n + 5000).map(|i| body("Wide", 0, i)).collect();
        let (buf, count) = encode(&t, &bodies);
        assert!(
            buf.len() > (2 << 20),
            "the batch spans at least three blocks"
        );
        let r = store.append(&t, QueueId::new(0), buf, count).await.unwrap();
        assert_eq!(r.queue_offset.get(), n);
        n += 5000;
        wait_visible(&arrivals, "Wide", 0, n);
        store.shutdown().await.unwrap();
        drop(store);
        let (store, _) = open_with(wide(dir.path()));
        assert_queue(&store, "Wide", 0, n);
        assert_consistent(&store);
        assert!(store.stats().cache_misses >= 3, "read back from disk");
        store.shutdown().await.unwrap();
    }
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

/// A consumer reading from a cold cache: the blocks it reaches are loaded,
/// and once it moves from one block into the next, the following ones are
/// loaded ahead while it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_loads_the_next_blocks_ahead() {
    let dir = tempfile::tempdir().unwrap();
    // 8 MiB segments: eight 1 MiB blocks each.
    let big = |dir: &Path| sized(dir, FlushMode::Async, 8 << 20);
    let (store, arrivals) = open_with(big(dir.path()));
    let t = topic("Ahead");
    let body = |i: u64| {
        let mut b = format!("ahead-{i}-").into_bytes();
        b.resize(1000, b'a' + (i % 26) as u8);
        b
    };
    // ~7.3 MiB: blocks 0-6 full, block 7 the writer's.
    for batch in 0..700u64 {
        let bodies: Vec<Vec<u8>> = (batch * 10..batch * 10 + 10).map(body).collect();
        let (buf, count) = encode(&t, &bodies);
        store.append(&t, QueueId::new(0), buf, count).await.unwrap();
    }
    wait_visible(&arrivals, "Ahead", 0, 7000);
    store.shutdown().await.unwrap();

    // Reopened: nothing cached. A reader that starts somewhere gets just
    // that block; when it moves on into the next one, read-ahead starts.
    let (store, _) = open_with(big(dir.path()));
    let mut at = 0u64;
    let check = |r: &super::super::ReadResult, at: u64| {
        for (k, rec) in r.records.iter().enumerate() {
            let m = record::decode(&rec).unwrap();
            assert_eq!(&m.message.body[..], &body(at + k as u64)[..]);
        }
    };
    while store.stats().cache_misses < 2 {
        let r = store
            .read(&t, QueueId::new(0), QueueOffset::new(at), 1, 1 << 20)
            .unwrap();
        assert_eq!(r.records.len(), 1, "at {at}");
        check(&r, at);
        at += 1;
        if store.stats().cache_misses == 1 {
            assert_eq!(
                store.stats().cache_read_ahead,
                0,
                "no read-ahead after a jump"
            );
        }
    }
    wait_for("two blocks read ahead", || {
        store.stats().cache_read_ahead >= READ_AHEAD
    });
    while at < 7000 {
        let r = store
            .read(&t, QueueId::new(0), QueueOffset::new(at), 32, 1 << 20)
            .unwrap();
        assert_eq!(r.status, ReadStatus::Found);
        check(&r, at);
        at += r.records.len() as u64;
    }
    let s = store.stats();
    // Every block loaded exactly once, by the reader or ahead of it: 0 and
    // 1 by the reader, 2-6 ahead (unless the reader overtook read-ahead on
    // a loaded machine), 7 (only partly written, never read ahead) by the
    // reader.
    assert_eq!(s.cache_misses + s.cache_read_ahead, 8, "{s:?}");
    assert!(s.cache_misses <= 4, "{s:?}");
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_not_a_multiple_of_4_kib_use_the_page_cache() {
    let dir = tempfile::tempdir().unwrap();
    let odd = |dir: &Path| sized(dir, FlushMode::Sync, 64 * 1024 + 512);
    let (store, arrivals) = open_with(odd(dir.path()));
    assert!(
        !store.stats().direct_io,
        "O_DIRECT needs 4 KiB-aligned segments"
    );
    append_batches(&store, "Odd", 0, 0, 300).await;
    wait_visible(&arrivals, "Odd", 0, 300);
    store.crash();
    drop(store);
    let (store, _) = open_with(odd(dir.path()));
    assert_queue(&store, "Odd", 0, 300);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}

/// Lookups that jump around the log (by offset, key, time) read just what
/// they need: a cold cache stays cold, and the answers are right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_around_the_cache_without_loading_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let big = |dir: &Path| sized(dir, FlushMode::Sync, 8 << 20);
    let (store, arrivals) = open_with(big(dir.path()));
    let t = topic("Probe");
    let mut offsets = Vec::new();
    for i in 0..2000u64 {
        let mut b = format!("probe-{i}-").into_bytes();
        b.resize(1000, b'p');
        let (buf, count) = encode_keyed(&t, &[(b, vec![format!("key-{i}")], None)]);
        let r = store.append(&t, QueueId::new(0), buf, count).await.unwrap();
        offsets.push(r.commit_log_offset);
    }
    wait_visible(&arrivals, "Probe", 0, 2000);
    store.shutdown().await.unwrap();

    let (store, _) = open_with(big(dir.path()));
    for i in [0usize, 777, 1999] {
        let rec = store
            .read_at(offsets[i])
            .unwrap()
            .expect("a record at its offset");
        let m = record::decode(&rec).unwrap();
        assert!(m.message.body.starts_with(format!("probe-{i}-").as_bytes()));
    }
    let found = store.query_by_key(&t, "key-1234", 10, 0, u64::MAX).unwrap();
    assert_eq!(found.len(), 1);
    let m = record::decode(&found[0]).unwrap();
    assert!(m.message.body.starts_with(b"probe-1234-"));
    // Everything was stored before this instant: the search ends at max.
    let later = super::super::fsutil::now_ms() + 60_000;
    assert_eq!(
        store.offset_by_timestamp(&t, QueueId::new(0), later).get(),
        2000
    );
    assert_eq!(store.offset_by_timestamp(&t, QueueId::new(0), 0).get(), 0);
    let s = store.stats();
    assert_eq!(s.cache_misses, 0, "no block loaded for a lookup: {s:?}");
    assert_eq!(s.cache_read_ahead, 0, "{s:?}");
    store.shutdown().await.unwrap();
}

/// Readers racing the writer and each other through a cache of three
/// blocks: eviction, loads, read-ahead and the writer's pinned block all
/// at once. Every record read must be the one asked for, intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_writer_through_a_tiny_cache() {
    let dir = tempfile::tempdir().unwrap();
    // 256 KiB segments: four 64 KiB blocks each, three of them cached.
    let mut c = sized(dir.path(), FlushMode::Async, 256 * 1024);
    c.log_cache_size = 3 * 64 * 1024;
    let (store, arrivals) = open_with(c);
    const PER_QUEUE: u64 = 600;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3u32)
        .map(|r| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checked = 0u64;
                let mut seed = 0x9E37_79B9u64 + u64::from(r);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let q = (seed >> 33) as u32 % 4;
                    let t = topic("Race");
                    let max = store.max_offset(&t, QueueId::new(q)).get();
                    if max == 0 {
                        continue;
                    }
                    let at = (seed >> 13) % max;
                    let res = store
                        .read(&t, QueueId::new(q), QueueOffset::new(at), 16, 64 * 1024)
                        .unwrap();
                    assert_eq!(res.status, ReadStatus::Found);
                    for (k, rec) in res.records.iter().enumerate() {
                        let m = record::decode(&rec).unwrap();
                        let i = at + k as u64;
                        assert_eq!(m.queue_offset.get(), i);
                        assert_eq!(&m.message.body[..], &body("Race", q, i)[..], "{q}/{i}");
                        checked += 1;
                    }
                }
                checked
            })
        })
        .collect();
    for round in 0..PER_QUEUE / 20 {
        for q in 0..4 {
            append_batches(&store, "Race", q, round * 20, 20).await;
        }
    }
    for q in 0..4 {
        wait_visible(&arrivals, "Race", q, PER_QUEUE);
    }
    // Let the readers go on over the finished log for a moment too.
    wait_for("readers evicting and loading", || {
        store.stats().cache_misses > 50
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let checked: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(checked > 1000, "readers checked {checked} records");
    for q in 0..4 {
        assert_queue(&store, "Race", q, PER_QUEUE);
    }
    assert_consistent(&store);
    store.shutdown().await.unwrap();
}
