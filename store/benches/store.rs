//! Store micro-benchmark (criterion): the append path (one 1 KiB record, and
//! batches of 32, in sync and async flush; plus 64 concurrent sync appends
//! to show group commit) and the read path (32 records from a warm queue).
//!
//! Runs on temp dirs under `$TMPDIR`, which should be the disk under test.
//! Kept short by default (1 s warm-up, 3 s measurement per bench):
//! `cargo bench -p ferromq-broker --bench store`; pass a filter such as
//! `-- append/sync` to run part of it. `FERROMQ_BENCH_DIRECT_IO=0` runs
//! the store with the page cache instead of O_DIRECT and its block cache.
// A benchmark has nobody to report an error to: it aborts with the cause.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferromq_protocol::record::{self, BornInfo};
use ferromq_protocol::{Message, QueueId, QueueOffset, TopicName};
use ferromq_store::{FlushMode, MessageStore, NoopListener, StoreConfig};
use tempfile::TempDir;

const BODY: usize = 1024;

fn topic() -> TopicName {
    TopicName::new("Bench").expect("valid topic")
}

fn open(flush: FlushMode) -> (TempDir, Arc<MessageStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = StoreConfig::new(dir.path(), "127.0.0.1:10911".parse().expect("addr"));
    config.flush = flush;
    config.direct_io = std::env::var("FERROMQ_BENCH_DIRECT_IO").map_or(true, |v| v != "0");
    let store = MessageStore::open(config, Arc::new(NoopListener)).expect("open store");
    (dir, store)
}

/// `n` producer-encoded 1 KiB records, back to back, as a send carries them.
fn records(n: u32) -> BytesMut {
    let born = BornInfo {
        timestamp: 1_700_000_000_000,
        host: "10.0.0.1:0".parse().expect("addr"),
        flags: record::COMPRESSION_NONE,
        reconsume_times: 0,
    };
    let body = Bytes::from(vec![b'x'; BODY]);
    let mut buf = BytesMut::new();
    for i in 0..n {
        let m = Message::new(topic(), body.clone()).with_property("UNIQ_KEY", format!("{i:032X}"));
        record::encode(&m, born, 4 << 20, &mut buf).expect("encode");
    }
    buf
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("append");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    for flush in [FlushMode::Async, FlushMode::Sync] {
        for batch in [1u32, 32] {
            let (_dir, store) = open(flush);
            let recs = records(batch);
            let t = topic();
            g.throughput(Throughput::Elements(u64::from(batch)));
            let id = BenchmarkId::new(flush.to_string(), format!("{batch}x1KiB"));
            g.bench_function(id, |b| {
                // The clone copies the batch, as the send handler's buffer
                // would be handed over; small next to the append itself.
                b.to_async(&rt).iter(|| async {
                    store
                        .append(&t, QueueId::new(0), recs.clone(), batch)
                        .await
                        .expect("append")
                });
            });
            rt.block_on(store.shutdown()).expect("shutdown");
        }
    }
    // 64 producers with one message each, as the sync-flush target of the
    // issue: group commit should make this far cheaper than 64 fsyncs.
    let (_dir, store) = open(FlushMode::Sync);
    let recs = records(1);
    let t = topic();
    g.throughput(Throughput::Elements(64));
    g.bench_function(BenchmarkId::new("sync", "64 concurrent x 1x1KiB"), |b| {
        b.to_async(&rt).iter(|| async {
            let appends =
                (0..64u32).map(|i| store.append(&t, QueueId::new(i % 8), recs.clone(), 1));
            for r in futures::future::join_all(appends).await {
                r.expect("append");
            }
        });
    });
    rt.block_on(store.shutdown()).expect("shutdown");
    g.finish();
}

fn read(c: &mut Criterion) {
    const QUEUE_LEN: u64 = 32 * 1024;
    let rt = runtime();
    let (_dir, store) = open(FlushMode::Async);
    let t = topic();
    let q = QueueId::new(0);
    let recs = records(32);
    rt.block_on(async {
        for _ in 0..QUEUE_LEN / 32 {
            store.append(&t, q, recs.clone(), 32).await.expect("append");
        }
    });
    // Appends resolve before the dispatcher indexes them; wait until all are
    // readable so every read below finds 32 records (the page cache is warm).
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.max_offset(&t, q).get() < QUEUE_LEN {
        assert!(Instant::now() < deadline, "queue never became visible");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut g = c.benchmark_group("read");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(32));
    let mut at = 0;
    g.bench_function("32x1KiB warm", |b| {
        b.iter(|| {
            let r = store
                .read(&t, q, QueueOffset::new(at), 32, 1 << 20)
                .expect("read");
            assert_eq!(r.records.len(), 32);
            at = (at + 32) % QUEUE_LEN;
            r
        });
    });
    g.finish();
    rt.block_on(store.shutdown()).expect("shutdown");
}

criterion_group!(benches, append, read);
criterion_main!(benches);
