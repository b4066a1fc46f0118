//! Torn and corrupt tails: recovery keeps exactly the valid prefix.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ferromq_protocol::QueueId;
use proptest::prelude::*;

use super::*;
use crate::fsutil::file_name;

/// A record of the template log: offset, size, queue.
#[derive(Clone, Copy, Debug)]
struct Rec {
    pos: u64,
    size: u64,
    queue: u32,
}

/// The crashed store, held as its files' contents (paths relative to the
/// store directory, directories first) so no directory outlives the test
/// binary: a static is never dropped.
struct Template {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    recs: Vec<Rec>,
    end: u64,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A store with two queues spread over several segments, stopped by a crash
/// before any checkpoint covered the data (the checkpoint is removed).
fn template() -> Template {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    rt.block_on(async {
        append_n(&store, "Torn", 0, 0, 120).await;
        append_n(&store, "Torn", 1, 0, 40).await;
    });
    wait_visible(&arrivals, "Torn", 1, 40);
    let end = store.stats().written_offset;
    let mut recs = Vec::new();
    scan(&store.shared.log, 0, None, |pos, r| {
        recs.push(Rec {
            pos,
            size: r.size as u64,
            queue: r.queue_id.get(),
        });
        Ok(())
    })
    .unwrap();
    store.crash();
    drop(store);
    fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let mut files = Vec::new();
    snapshot(dir.path(), Path::new(""), &mut files);
    Template { files, recs, end }
}

/// Appends the entries under `root.join(rel)`: `None` for a directory
/// (listed before what it holds), the contents for a file.
fn snapshot(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
    for e in fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let rel = rel.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            out.push((rel.clone(), None));
            snapshot(root, &rel, out);
        } else {
            out.push((rel, Some(fs::read(e.path()).unwrap())));
        }
    }
}

/// Recreates the template's store in `to`.
fn restore(t: &Template, to: &Path) {
    for (rel, contents) in &t.files {
        match contents {
            None => fs::create_dir_all(to.join(rel)).unwrap(),
            Some(bytes) => fs::write(to.join(rel), bytes).unwrap(),
        }
    }
}

fn segment_path(dir: &Path, offset: u64) -> PathBuf {
    let base = offset - offset % (64 * 1024);
    dir.join("commitlog").join(file_name(base))
}

/// Opens `dir`, checks that exactly the records ending at or before `keep`
/// survived, and that appends continue after them.
fn check_prefix(t: &Template, dir: &Path, keep: u64) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    let mut counts = [0u64; 2];
    let mut end = 0;
    for r in t.recs.iter().filter(|r| r.pos + r.size <= keep) {
        counts[r.queue as usize] += 1;
        end = r.pos + r.size;
    }
    for q in 0..2 {
        assert_queue(&store, "Torn", q, counts[q as usize]);
    }
    assert_consistent(&store);
    let written = store.stats().written_offset;
    assert!(
        written == end || written % (64 * 1024) == 0 && written >= end,
        "log end {written}, last record ends at {end}"
    );
    runtime().block_on(append_n(&store, "Torn", 0, counts[0], 1));
    wait_visible(&arrivals, "Torn", 0, counts[0] + 1);
    assert_queue(&store, "Torn", 0, counts[0] + 1);
    drop(store);
}

fn template_once() -> &'static Template {
    static T: std::sync::OnceLock<Template> = std::sync::OnceLock::new();
    T.get_or_init(template)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn truncated_last_segment_keeps_the_valid_prefix(frac in 0.0f64..1.0) {
        let t = template_once();
        let last_base = t.end - t.end % (64 * 1024);
        let cut = last_base + ((t.end - last_base) as f64 * frac) as u64;
        let dir = tempfile::tempdir().unwrap();
        restore(t, dir.path());
        let f = OpenOptions::new().write(true).open(segment_path(dir.path(), cut)).unwrap();
        f.set_len(cut - last_base).unwrap();
        check_prefix(t, dir.path(), cut);
    }

    #[test]
    fn truncation_anywhere_in_the_log_keeps_the_prefix(cut in 0u64..1_000_000) {
        let t = template_once();
        let cut = cut % t.end;
        let dir = tempfile::tempdir().unwrap();
        restore(t, dir.path());
        // Everything from `cut` on is lost: its segment is cut short, later
        // segments vanish.
        let base = cut - cut % (64 * 1024);
        for e in fs::read_dir(dir.path().join("commitlog")).unwrap() {
            let p = e.unwrap().path();
            let b: u64 = p.file_name().unwrap().to_str().unwrap().parse().unwrap();
            if b > base {
                fs::remove_file(p).unwrap();
            }
        }
        let f = OpenOptions::new().write(true).open(segment_path(dir.path(), cut)).unwrap();
        f.set_len(cut - base).unwrap();
        check_prefix(t, dir.path(), cut);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn flipped_byte_in_one_of_the_last_records_keeps_what_precedes_it(
        back in 0usize..12, at in any::<u64>(), bit in 0u8..8,
    ) {
        let t = template_once();
        let rec = t.recs[t.recs.len() - 1 - back];
        let dir = tempfile::tempdir().unwrap();
        restore(t, dir.path());
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(dir.path(), rec.pos))
            .unwrap();
        let off = (rec.pos + at % rec.size) % (64 * 1024);
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, off).unwrap();
        f.write_all_at(&[b[0] ^ (1 << bit)], off).unwrap();
        // Everything from the damaged record on is dropped, later segments
        // included (no checkpoint vouches for them), and never served.
        check_prefix(t, dir.path(), rec.pos);
    }

    #[test]
    fn random_garbage_after_the_end_is_cut(
        garbage in proptest::collection::vec(any::<u8>(), 1..2000),
    ) {
        let t = template_once();
        let dir = tempfile::tempdir().unwrap();
        restore(t, dir.path());
        let room = (64 * 1024 - t.end % (64 * 1024)) as usize;
        let f = OpenOptions::new()
            .write(true)
            .open(segment_path(dir.path(), t.end))
            .unwrap();
        f.write_all_at(&garbage[..garbage.len().min(room)], t.end % (64 * 1024))
            .unwrap();
        check_prefix(t, dir.path(), t.end);
    }
}

#[test]
fn garbage_after_the_end_is_cut() {
    let t = template_once();
    let dir = tempfile::tempdir().unwrap();
    restore(t, dir.path());
    let f = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), t.end))
        .unwrap();
    let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
    f.write_all_at(&garbage, t.end % (64 * 1024)).unwrap();
    check_prefix(t, dir.path(), t.end);
    // The garbage is gone for good: reopen once more.
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_consistent(&store);
}

#[test]
fn flipped_byte_in_the_last_record_drops_only_it() {
    let t = template_once();
    let last = *t.recs.last().unwrap();
    for at in [0, 5, 9, 40, last.size / 2, last.size - 1] {
        let dir = tempfile::tempdir().unwrap();
        restore(t, dir.path());
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(dir.path(), last.pos))
            .unwrap();
        let off = (last.pos + at) % (64 * 1024);
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, off).unwrap();
        f.write_all_at(&[b[0] ^ 0x20], off).unwrap();
        check_prefix(t, dir.path(), last.pos);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_after_a_checkpoint_is_found() {
    // The checkpoint vouches for everything; a short last segment still
    // makes recovery scan it instead of trusting the checkpoint blindly.
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Torn", 0, 0, 100).await;
    wait_visible(&arrivals, "Torn", 0, 100);
    let end = store.stats().written_offset;
    store.shutdown().await.unwrap();
    drop(store);
    let base = end - end % (64 * 1024);
    let f = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), end))
        .unwrap();
    f.set_len(end - base - 10).unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    assert_queue(&store, "Torn", 0, 99);
    assert_consistent(&store);
    store.shutdown().await.unwrap();
    let t = topic("Torn");
    assert_eq!(store.max_offset(&t, QueueId::new(0)).get(), 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_the_middle_of_durable_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Torn", 0, 0, 800).await;
    wait_visible(&arrivals, "Torn", 0, 800);
    store.shutdown().await.unwrap();
    drop(store);
    // Segment 1 of several loses its second half.
    let f = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 64 * 1024))
        .unwrap();
    f.set_len(32 * 1024).unwrap();
    let err = MessageStore::open(
        config(dir.path(), FlushMode::Sync),
        Arc::new(Arrivals::default()),
    )
    .err()
    .unwrap();
    assert!(matches!(err, crate::StoreError::Corrupt(_)), "{err}");
    assert!(
        segment_path(dir.path(), 3 * 64 * 1024).exists(),
        "nothing was deleted"
    );

    // The operator accepts the loss: recovery keeps the valid prefix.
    fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let (store, _) = open(dir.path(), FlushMode::Sync);
    let n = store.max_offset(&topic("Torn"), QueueId::new(0)).get();
    assert!(n > 0 && n < 800, "{n}");
    assert_queue(&store, "Torn", 0, n);
    assert_consistent(&store);
}
