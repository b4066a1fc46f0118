//! kill -9 of the real `mqbroker --flush sync` while a producer sends: after a
//! restart every acknowledged message is readable and intact, and a record
//! torn in half at the tail is cut, not served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferromq_client::{AdminClient, Message};
use ferromq_protocol::record::{self, Peek};
use ferromq_tests::{consume_n, consumer, create_topic, producer, BrokerProcess};
use parking_lot::Mutex;

const SEGMENT: u64 = 512 * 1024;

fn body(i: u64) -> String {
    format!("payload-{i}-{}", "z".repeat((i % 97) as usize))
}

/// Segment files of the commit log, in offset order.
fn segments(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(store.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .collect();
    v.sort();
    v
}

/// Finds the end of the valid records in the last non-empty segment and
/// returns (segment, end position, bytes of the last valid record).
fn tail(store: &Path) -> (PathBuf, u64, Vec<u8>) {
    for seg in segments(store).into_iter().rev() {
        let data = fs::read(&seg).unwrap();
        let (mut pos, mut last) = (0usize, None);
        while let Peek::Record(size) = record::peek(&data[pos..]) {
            if record::parse(&data[pos..]).is_err() {
                break;
            }
            last = Some(data[pos..pos + size].to_vec());
            pos += size;
        }
        if let Some(last) = last {
            return (seg, pos as u64, last);
        }
    }
    panic!("no records in the commit log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    ferromq_tests::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let seg = SEGMENT.to_string();
    let args = ["--flush", "sync", "--segment-size", &seg];
    let mut broker = BrokerProcess::started(&store, &args).await;
    let topic = create_topic(broker.namesrv_addr(), "CrashTopic", 4).await;

    // 16 senders in a loop; each acknowledged send is recorded.
    let acked: Arc<Mutex<HashMap<u64, (u32, u64)>>> = Arc::default();
    let p = Arc::new(producer(broker.namesrv_addr()));
    let mut senders = Vec::new();
    for t in 0..16u64 {
        let (p, acked, topic) = (p.clone(), acked.clone(), topic.clone());
        senders.push(tokio::spawn(async move {
            for k in 0.. {
                let i = k * 16 + t;
                let m = Message::new(topic.clone(), body(i)).with_key(format!("id-{i}"));
                match p.send(m).await {
                    Ok(r) => {
                        acked
                            .lock()
                            .insert(i, (r.queue_id.get(), r.queue_offset.get()));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    ferromq_tests::wait_for(
        "3,000 acknowledged sends",
        Duration::from_secs(120),
        || async { (acked.lock().len() >= 3_000).then_some(()) },
    )
    .await;
    broker.kill9();
    for s in senders {
        s.abort();
    }
    let acked = acked.lock().clone();
    assert!(acked.len() >= 3_000);
    assert!(
        segments(&store).len() > 1,
        "the run should span several segments"
    );

    // Tear a record in half at the tail, as a crash mid-write would.
    let (seg_path, end, last) = tail(&store);
    let f = OpenOptions::new().write(true).open(&seg_path).unwrap();
    let torn = (last.len() as u64 / 2).min(SEGMENT - end) as usize;
    assert!(torn > 0, "no room after the last record");
    f.write_at(&last[..torn], end).unwrap();
    drop(f);

    let broker = BrokerProcess::started(&store, &args).await;
    let cons = consumer(broker.namesrv_addr(), "after-crash");
    cons.subscribe(&topic).await.unwrap();
    // More than the acknowledged count may be stored: sends written but not
    // yet acknowledged when the kill came. Read exactly what the queues hold.
    let status = AdminClient::connect(broker.namesrv_addr())
        .unwrap()
        .topic_status(&topic)
        .await
        .unwrap();
    let stored: u64 = status
        .iter()
        .flat_map(|b| b.queues.iter())
        .map(|q| q.max_offset.get() - q.min_offset.get())
        .sum();
    assert!(stored >= acked.len() as u64);
    let got = consume_n(&cons, stored as usize, Duration::from_secs(60)).await;
    assert_eq!(got.len() as u64, stored);
    let mut by_key = HashMap::new();
    for m in &got {
        let key = m.message.keys[0].clone();
        let i: u64 = key.trim_start_matches("id-").parse().unwrap();
        assert_eq!(
            &m.message.body[..],
            body(i).as_bytes(),
            "message {i} is corrupt"
        );
        assert!(
            by_key
                .insert(i, (m.queue_id.get(), m.queue_offset.get()))
                .is_none(),
            "message {i} served twice"
        );
    }
    for (i, pos) in &acked {
        assert_eq!(
            by_key.get(i),
            Some(pos),
            "acknowledged message {i} lost or moved"
        );
    }
    // The torn copy of the last record was cut: nothing was served twice
    // (checked above) and the log accepts new appends where it stood.
    let p = producer(broker.namesrv_addr());
    let r = p
        .send(Message::new(topic.clone(), "after-restart"))
        .await
        .unwrap();
    let in_queue = got.iter().filter(|m| m.queue_id == r.queue_id).count() as u64;
    assert_eq!(r.queue_offset.get(), in_queue);
    cons.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_keeps_everything() {
    ferromq_tests::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut broker = BrokerProcess::started(&store, &["--flush", "async"]).await;
    let topic = create_topic(broker.namesrv_addr(), "TermTopic", 2).await;
    let p = producer(broker.namesrv_addr());
    for i in 0..500u64 {
        p.send(Message::new(topic.clone(), body(i)).with_key(format!("id-{i}")))
            .await
            .unwrap();
    }
    let cons = consumer(broker.namesrv_addr(), "term-group");
    cons.subscribe(&topic).await.unwrap();
    let first = consume_n(&cons, 200, Duration::from_secs(30)).await;
    cons.commit().await.unwrap();
    cons.shutdown().await;
    assert!(broker.terminate(), "mqbroker did not exit 0 on SIGTERM");
    // A clean stop leaves no abort marker behind.
    assert!(!store.join("abort").exists());

    let broker = BrokerProcess::started(&store, &["--flush", "async"]).await;
    let cons = consumer(broker.namesrv_addr(), "term-group");
    cons.subscribe(&topic).await.unwrap();
    let rest = consume_n(&cons, 500 - first.len(), Duration::from_secs(30)).await;
    let mut ids: Vec<u64> = first
        .iter()
        .chain(rest.iter())
        .map(|m| m.message.keys[0].trim_start_matches("id-").parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..500).collect::<Vec<_>>());
    cons.shutdown().await;
}
