//! Tag filters: a member subscribed with `TagA || TagB` gets only those
//! messages; the others are skipped without stalling its offsets (the
//! group's lag reaches 0, also after a long run of non-matching messages).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::time::Duration;

use ferromq_client::{AdminClient, ConsumeResult, GroupName, Message};
use ferromq_tests::{producer, wait_for, TestCluster};
use futures::StreamExt;
use push_common::{builder, Recorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_matching_tags_are_delivered_and_offsets_move_on() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Tagged", 2).await;
    let ns = c.namesrv_addr();
    let rec = Recorder::default();
    let r = rec.clone();
    let consumer = builder(ns, "tagged")
        .subscribe("Tagged", "TagA || TagB")
        .listener_concurrently(move |msgs| {
            r.record(0, msgs);
            ConsumeResult::Success
        })
        .build()
        .unwrap();
    consumer.start().await.unwrap();

    let p = producer(ns);
    let tags = [Some("TagA"), Some("TagB"), Some("TagC"), None];
    let mut msgs: Vec<Message> = (0..400)
        .map(|i| {
            let m = Message::new(topic.clone(), format!("{i}")).with_key(format!("k-{i}"));
            match tags[i % 4] {
                Some(t) => m.with_tags(t),
                None => m,
            }
        })
        .collect();
    // A long tail that matches nothing: pulls must skip it.
    msgs.extend((400..1400).map(|i| {
        Message::new(topic.clone(), format!("{i}"))
            .with_key(format!("k-{i}"))
            .with_tags("TagC")
    }));
    futures::stream::iter(msgs)
        .map(|m| p.send_async(m))
        .buffer_unordered(32)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;

    wait_for("the matching messages", Duration::from_secs(20), || async {
        (rec.len() >= 200).then_some(())
    })
    .await;
    let admin = AdminClient::connect(ns).unwrap();
    let group = GroupName::new("tagged").unwrap();
    let progress = wait_for(
        "the group's lag to reach 0",
        Duration::from_secs(20),
        || async {
            let p = admin.consumer_progress(&group, Some(&topic)).await.ok()?;
            let committed = p.queues.iter().all(|q| q.consumer_offset.is_some());
            (committed && p.total_lag() == 0).then_some(p)
        },
    )
    .await;
    let total: u64 = progress.queues.iter().map(|q| q.broker_offset.get()).sum();
    assert_eq!(total, 1400);
    let all = rec.all();
    assert_eq!(all.len(), 200, "TagA and TagB messages, once each");
    for d in &all {
        let t = d.message.message.tags.as_deref();
        assert!(matches!(t, Some("TagA" | "TagB")), "delivered tag {t:?}");
    }
    consumer.shutdown().await;
}
