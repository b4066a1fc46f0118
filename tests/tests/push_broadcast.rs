//! Broadcasting: two members of one group each see every message, and
//! keep their offsets in their own local files — a restarted member goes
//! on from where it stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::path::Path;
use std::time::Duration;

use ferromq_client::{ConsumeFromWhere, ConsumeResult, MessageModel, PushConsumer};
use ferromq_tests::{producer, wait_for, TestCluster};
use push_common::{builder, send_n, Recorder};

fn member(namesrv: &str, id: usize, dir: &Path, rec: &Recorder) -> PushConsumer {
    let rec = rec.clone();
    builder(namesrv, "broadcast")
        .subscribe("News", "*")
        .message_model(MessageModel::Broadcasting)
        .consume_from(ConsumeFromWhere::FirstOffset)
        .local_offset_dir(dir)
        .listener_concurrently(move |msgs| {
            rec.record(id, msgs);
            ConsumeResult::Success
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_sees_every_message() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("News", 4).await;
    let ns = c.namesrv_addr();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (r0, r1) = (Recorder::default(), Recorder::default());
    let m0 = member(ns, 0, dirs[0].path(), &r0);
    let m1 = member(ns, 1, dirs[1].path(), &r1);
    m0.start().await.unwrap();
    m1.start().await.unwrap();
    assert_eq!(m0.assigned_queues().len(), 4, "every queue, no retry topic");
    assert_eq!(m1.assigned_queues().len(), 4);

    let p = producer(ns);
    const N: usize = 2_000;
    send_n(&p, &topic, "a", N).await;
    for r in [&r0, &r1] {
        wait_for(
            "every message at each member",
            Duration::from_secs(30),
            || async { (r.keys().len() == N).then_some(()) },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r0.len(), N, "no duplicates at member 0");
    assert_eq!(r1.len(), N, "no duplicates at member 1");

    // Member 1 stops (offsets to its file); messages sent meanwhile reach
    // it after a restart, and nothing it had already seen comes again.
    m1.shutdown().await;
    let file = dirs[1].path().join("broadcast").join("offsets");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("News ")).count(),
        4,
        "{text}"
    );
    send_n(&p, &topic, "b", 100).await;
    let again = Recorder::default();
    let m1 = member(ns, 1, dirs[1].path(), &again);
    m1.start().await.unwrap();
    wait_for(
        "the messages sent while stopped",
        Duration::from_secs(30),
        || async { (again.keys().len() == 100).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        again.keys().iter().all(|k| k.starts_with("b-")),
        "resumed from the local offsets"
    );
    assert_eq!(again.len(), 100);
    wait_for(
        "member 0 to see the new messages too",
        Duration::from_secs(30),
        || async { (r0.keys().len() == N + 100).then_some(()) },
    )
    .await;
    m0.shutdown().await;
    m1.shutdown().await;
}
