//! resetOffsetByTime makes live members re-read from that time, without a
//! restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferromq_client::{AdminClient, ConsumeResult, GroupName};
use ferromq_tests::{producer, wait_for, TestCluster};
use push_common::{builder, send_n, Recorder};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_members_reread_from_the_reset_time() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Replay", 4).await;
    let ns = c.namesrv_addr();
    let rec = Recorder::default();
    let members: Vec<_> = (0..2)
        .map(|id| {
            let r = rec.clone();
            builder(ns, "replay")
                .subscribe("Replay", "*")
                .listener_concurrently(move |msgs| {
                    r.record(id, msgs);
                    ConsumeResult::Success
                })
                .build()
                .unwrap()
        })
        .collect();
    for m in &members {
        m.start().await.unwrap();
    }
    wait_for(
        "the queues to be shared",
        Duration::from_secs(10),
        || async {
            let n: usize = members.iter().map(|m| m.assigned_queues().len()).sum();
            (n == 5).then_some(())
        },
    )
    .await;

    let p = producer(ns);
    send_n(&p, &topic, "early", 100).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t1 = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_n(&p, &topic, "late", 200).await;
    wait_for("every message once", Duration::from_secs(20), || async {
        (rec.len() >= 300).then_some(())
    })
    .await;
    let group = GroupName::new("replay").unwrap();
    let admin = AdminClient::connect(ns).unwrap();
    wait_for("offsets committed", Duration::from_secs(10), || async {
        let p = admin.consumer_progress(&group, Some(&topic)).await.ok()?;
        (p.total_lag() == 0 && p.queues.iter().all(|q| q.consumer_offset.is_some())).then_some(())
    })
    .await;

    let resets = admin
        .reset_offset_by_time(&group, &topic, t1)
        .await
        .unwrap();
    assert_eq!(resets.len(), 4);
    let old: u64 = resets.iter().map(|r| r.old.unwrap().get()).sum();
    let new: u64 = resets.iter().map(|r| r.new.get()).sum();
    assert_eq!((old, new), (300, 100), "{resets:?}");

    wait_for(
        "the late messages again",
        Duration::from_secs(20),
        || async { (rec.len() >= 500).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let by_key = rec.by_key();
    for (key, ds) in &by_key {
        let want = if key.starts_with("late") { 2 } else { 1 };
        assert_eq!(ds.len(), want, "{key}");
    }
    assert_eq!(rec.len(), 500);
    for m in &members {
        m.shutdown().await;
    }
}
