//! Consume queues behind the commit log (files truncated or deleted while
//! the broker was stopped) are rebuilt on open.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::*;

fn queue_dir(dir: &Path, t: &str, q: u32) -> PathBuf {
    dir.join("consumequeue").join(t).join(q.to_string())
}

fn cq_files(dir: &Path, t: &str, q: u32) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(queue_dir(dir, t, q))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A cleanly stopped store with 50 messages in each of two queues (four
/// consume-queue files of 16 entries each).
async fn stopped_store(dir: &Path) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    append_n(&store, "Lag", 0, 0, 50).await;
    append_n(&store, "Lag", 1, 0, 50).await;
    wait_visible(&arrivals, "Lag", 1, 50);
    store.shutdown().await.unwrap();
}

async fn reopen_and_check(dir: &Path) {
    let (store, arrivals) = open(dir, FlushMode::Sync);
    assert_queue(&store, "Lag", 0, 50);
    assert_queue(&store, "Lag", 1, 50);
    assert_consistent(&store);
    append_n(&store, "Lag", 0, 50, 3).await;
    wait_visible(&arrivals, "Lag", 0, 53);
    assert_queue(&store, "Lag", 0, 53);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_queue_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    stopped_store(dir.path()).await;
    let files = cq_files(dir.path(), "Lag", 0);
    assert_eq!(files.len(), 4);
    let f = OpenOptions::new().write(true).open(&files[3]).unwrap();
    f.set_len(20).unwrap(); // one entry of two left in the last file
    reopen_and_check(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_middle_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    stopped_store(dir.path()).await;
    let files = cq_files(dir.path(), "Lag", 1);
    let f = OpenOptions::new().write(true).open(&files[1]).unwrap();
    f.set_len(7 * 20).unwrap();
    reopen_and_check(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_queue_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    stopped_store(dir.path()).await;
    for f in cq_files(dir.path(), "Lag", 0).iter().skip(2) {
        fs::remove_file(f).unwrap();
    }
    fs::remove_dir_all(queue_dir(dir.path(), "Lag", 1)).unwrap();
    reopen_and_check(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_queue_after_a_crash_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, arrivals) = open(dir.path(), FlushMode::Sync);
    append_n(&store, "Lag", 0, 0, 50).await;
    append_n(&store, "Lag", 1, 0, 50).await;
    wait_visible(&arrivals, "Lag", 1, 50);
    store.crash();
    drop(store);
    let files = cq_files(dir.path(), "Lag", 1);
    fs::remove_file(files.last().unwrap()).unwrap();
    let f = OpenOptions::new().write(true).open(&files[0]).unwrap();
    f.set_len(0).unwrap();
    reopen_and_check(dir.path()).await;
}
