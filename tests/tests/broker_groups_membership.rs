//! Consumer group membership on the broker: heartbeats, notifications on
//! join / unregister / expiry / closed connection, connection listing,
//! subscription groups, queue locks and offset resets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker_groups_common;

use std::time::{Duration, Instant};

use broker_groups_common::*;
use ferromq_client::Message;
use ferromq_protocol::header::{
    DeleteSubscriptionGroupRequest, GetConsumerConnectionsRequest, LockBatchRequest,
    NotifyConsumerIdsChanged, OffsetEntry, QueryConsumerOffsetRequest, QueueRef, ResetOffsetNotify,
    ResetOffsetRequest, SubscriptionGroupConfig, UnlockBatchRequest, UnregisterClientRequest,
    UpdateConsumerOffsetRequest, UpdateSubscriptionGroupRequest,
};
use ferromq_protocol::{QueueId, QueueOffset, ResponseCode};
use ferromq_tests::{producer, wait_for, TestCluster};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_told_when_the_group_changes() {
    let c = TestCluster::start_with(|cfg| {
        cfg.client_scan_interval = Duration::from_millis(50);
    })
    .await;
    let g = group("members");
    let data = consumer_data(&g, &topic("MemberTopic"), "TagA || TagB");
    let a = connect(c.broker_addr()).await;
    let mut a_pushes = capture(&a);
    heartbeat(&a, "client-a", &data).await;
    // Its own join is announced to it too.
    assert_eq!(
        a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await.group,
        g
    );
    assert_eq!(consumer_ids(&a, &g).await, vec!["client-a"]);
    // A refresh is not a change.
    heartbeat(&a, "client-a", &data).await;

    let b = connect(c.broker_addr()).await;
    heartbeat(&b, "client-b", &data).await;
    assert_eq!(
        a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await.group,
        g
    );
    assert!(a_pushes.drain::<NotifyConsumerIdsChanged>().is_empty());
    assert_eq!(consumer_ids(&a, &g).await, vec!["client-a", "client-b"]);

    let conns = call(&a, &GetConsumerConnectionsRequest { group: g.clone() }).await;
    assert_eq!(conns.connections.len(), 2);
    assert_eq!(conns.connections[0].client_id, "client-a");
    assert!(conns.connections[1].addr.starts_with("127.0.0.1:"));
    assert_eq!(conns.subscriptions, data.subscriptions);
    assert_eq!(conns.model, Some(data.model));

    // Unregister.
    ok(
        &b,
        &UnregisterClientRequest {
            client_id: "client-b".into(),
            consumer_group: Some(g.clone()),
            producer_group: None,
        },
    )
    .await;
    a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await;
    assert_eq!(consumer_ids(&a, &g).await, vec!["client-a"]);

    // A client whose connection closes, without unregistering.
    let d = connect(c.broker_addr()).await;
    heartbeat(&d, "client-d", &data).await;
    a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await;
    assert_eq!(consumer_ids(&a, &g).await, vec!["client-a", "client-d"]);
    drop(d);
    a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await;
    assert_eq!(consumer_ids(&a, &g).await, vec!["client-a"]);

    // Joining created the subscription group (defaults) and the retry topic.
    let sub =
        std::fs::read_to_string(c.store_dir().join("config/subscriptionGroups.json")).unwrap();
    assert!(sub.contains("\"members\""), "{sub}");
    assert_eq!(max_offset(&a, &topic("%RETRY%members"), 0).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_expires() {
    let c = TestCluster::start_with(|cfg| {
        cfg.client_channel_expiry = Duration::from_millis(600);
        cfg.client_scan_interval = Duration::from_millis(50);
    })
    .await;
    let g = group("expiring");
    let data = consumer_data(&g, &topic("ExpTopic"), "*");
    let a = connect(c.broker_addr()).await;
    let mut a_pushes = capture(&a);
    heartbeat(&a, "client-a", &data).await;
    a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await;
    let b = connect(c.broker_addr()).await;
    heartbeat(&b, "client-b", &data).await;
    a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await;
    let silent_since = Instant::now();

    // a keeps heartbeating as a live client does; b falls silent but keeps
    // its connection open.
    let a2 = a.clone();
    let d2 = data.clone();
    let beats = tokio::spawn(async move {
        loop {
            heartbeat(&a2, "client-a", &d2).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    a_pushes.next::<NotifyConsumerIdsChanged>(WAIT).await;
    assert!(silent_since.elapsed() >= Duration::from_millis(600));
    assert_eq!(consumer_ids(&a, &g).await, vec!["client-a"]);
    assert!(!b.is_closed());
    beats.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_queue_lock_holder_until_unlock_expiry_or_leaving() {
    let c = TestCluster::start_with(|cfg| {
        cfg.queue_lock_expiry = Duration::from_millis(500);
        cfg.client_scan_interval = Duration::from_millis(50);
    })
    .await;
    let g = group("orderly");
    let q0 = QueueRef {
        topic: topic("OrderTopic"),
        queue_id: QueueId::new(0),
    };
    let q1 = QueueRef {
        topic: topic("OrderTopic"),
        queue_id: QueueId::new(1),
    };
    let conn = connect(c.broker_addr()).await;
    let lock = |client: &str, queues: Vec<QueueRef>| LockBatchRequest {
        group: g.clone(),
        client_id: client.to_string(),
        queues,
    };
    let got = call(&conn, &lock("a", vec![q0.clone()])).await.locked;
    assert_eq!(got, vec![q0.clone()]);
    let got = call(&conn, &lock("b", vec![q0.clone(), q1.clone()]))
        .await
        .locked;
    assert_eq!(got, vec![q1.clone()], "b must not get a's queue");

    // Unlock hands it over.
    ok(
        &conn,
        &UnlockBatchRequest {
            group: g.clone(),
            client_id: "a".into(),
            queues: vec![q0.clone()],
        },
    )
    .await;
    let got = call(&conn, &lock("b", vec![q0.clone()])).await.locked;
    assert_eq!(got, vec![q0.clone()]);
    let taken_at = Instant::now();
    assert!(call(&conn, &lock("a", vec![q0.clone()]))
        .await
        .locked
        .is_empty());

    // b stops renewing: after the expiry a gets it.
    wait_for("b's lock to expire", WAIT, || async {
        let got = call(&conn, &lock("a", vec![q0.clone()])).await.locked;
        (got == vec![q0.clone()]).then_some(())
    })
    .await;
    assert!(taken_at.elapsed() >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_the_group_releases_queue_locks() {
    let c = TestCluster::start().await;
    let g = group("orderly2");
    let q = QueueRef {
        topic: topic("OrderTopic2"),
        queue_id: QueueId::new(0),
    };
    let lock = |client: &str| LockBatchRequest {
        group: g.clone(),
        client_id: client.to_string(),
        queues: vec![q.clone()],
    };
    let m = connect(c.broker_addr()).await;
    heartbeat(&m, "m", &consumer_data(&g, &q.topic, "*")).await;
    assert_eq!(call(&m, &lock("m")).await.locked, vec![q.clone()]);
    let other = connect(c.broker_addr()).await;
    assert!(call(&other, &lock("o")).await.locked.is_empty());
    ok(
        &m,
        &UnregisterClientRequest {
            client_id: "m".into(),
            consumer_group: Some(g.clone()),
            producer_group: None,
        },
    )
    .await;
    // The default 60 s expiry is far away: only the release frees it.
    assert_eq!(call(&other, &lock("o")).await.locked, vec![q.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_groups_are_validated_persisted_and_deleted() {
    let mut c = TestCluster::start().await;
    let t = c.create_topic("SubGroupTopic", 1).await;
    let g = group("settings");
    let conn = connect(c.broker_addr()).await;
    let mut cfg = SubscriptionGroupConfig::new(g.clone());
    cfg.retry_max_times = 65;
    let err = conn
        .call(
            &UpdateSubscriptionGroupRequest {
                config: cfg.clone(),
            },
            bytes::Bytes::new(),
            RPC,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("65"), "{err}");
    cfg.retry_max_times = 3;
    cfg.consume_broadcast = true;
    ok(&conn, &UpdateSubscriptionGroupRequest { config: cfg }).await;
    ok(
        &conn,
        &UpdateConsumerOffsetRequest {
            consumer_group: g.clone(),
            offsets: vec![OffsetEntry {
                topic: t.clone(),
                queue_id: QueueId::new(0),
                offset: QueueOffset::new(7),
            }],
        },
    )
    .await;

    // Survives a restart.
    c.restart_broker().await;
    let conn = connect(c.broker_addr()).await;
    let file =
        std::fs::read_to_string(c.store_dir().join("config/subscriptionGroups.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    let saved = &v["groups"][0];
    assert_eq!(saved["group"], "settings");
    assert_eq!(saved["retry_max_times"], 3);
    assert_eq!(saved["consume_broadcast"], true);

    // consume_enable = false refuses pulls.
    let mut off = SubscriptionGroupConfig::new(g.clone());
    off.consume_enable = false;
    ok(&conn, &UpdateSubscriptionGroupRequest { config: off }).await;
    let refused = conn
        .call(
            &ferromq_protocol::header::PullMessageRequest {
                consumer_group: g.clone(),
                topic: t.clone(),
                queue_id: QueueId::new(0),
                queue_offset: QueueOffset::new(0),
                max_messages: 1,
                max_bytes: 1024,
                hold_ms: 0,
                expression: None,
            },
            bytes::Bytes::new(),
            RPC,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ferromq_remoting::RemotingError::Server {
                code: ResponseCode::NoPermission,
                ..
            }
        ),
        "{refused}"
    );

    ok(&conn, &DeleteSubscriptionGroupRequest { group: g.clone() }).await;
    let offset = call(
        &conn,
        &QueryConsumerOffsetRequest {
            consumer_group: g.clone(),
            topic: t.clone(),
            queue_id: QueueId::new(0),
        },
    )
    .await
    .offset;
    assert_eq!(offset, None, "deleting the group drops its offsets");
    let file =
        std::fs::read_to_string(c.store_dir().join("config/subscriptionGroups.json")).unwrap();
    assert!(!file.contains("settings"), "{file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_offset_by_time_commits_and_tells_members() {
    let c = TestCluster::start().await;
    let t = c.create_topic("ResetTopic", 2).await;
    let g = group("resetter");
    let p = producer(c.namesrv_addr());
    let mut before = [0u64; 2];
    for i in 0..10 {
        let r = p
            .send(Message::new(t.clone(), format!("old-{i}")))
            .await
            .unwrap();
        before[r.queue_id.get() as usize] += 1;
    }
    // Every later message is stored at or after `mid`.
    let mid = now_ms() + 1;
    wait_for("the clock to pass the reset point", WAIT, || async {
        (now_ms() >= mid).then_some(())
    })
    .await;
    let mut total = before;
    for i in 0..6 {
        let r = p
            .send(Message::new(t.clone(), format!("new-{i}")))
            .await
            .unwrap();
        total[r.queue_id.get() as usize] += 1;
    }

    let member = connect(c.broker_addr()).await;
    let mut pushes = capture(&member);
    heartbeat(&member, "member-1", &consumer_data(&g, &t, "*")).await;
    ok(
        &member,
        &UpdateConsumerOffsetRequest {
            consumer_group: g.clone(),
            offsets: (0..2)
                .map(|q| OffsetEntry {
                    topic: t.clone(),
                    queue_id: QueueId::new(q),
                    offset: QueueOffset::new(total[q as usize]),
                })
                .collect(),
        },
    )
    .await;

    let admin = connect(c.broker_addr()).await;
    let resp = call(
        &admin,
        &ResetOffsetRequest {
            group: g.clone(),
            topic: t.clone(),
            timestamp_ms: mid,
        },
    )
    .await;
    let expected: Vec<(QueueId, QueueOffset)> = (0..2)
        .map(|q| (QueueId::new(q), QueueOffset::new(before[q as usize])))
        .collect();
    assert_eq!(resp.offsets, expected);
    for q in 0..2u32 {
        let committed = call(
            &admin,
            &QueryConsumerOffsetRequest {
                consumer_group: g.clone(),
                topic: t.clone(),
                queue_id: QueueId::new(q),
            },
        )
        .await
        .offset;
        assert_eq!(committed, Some(QueueOffset::new(before[q as usize])));
    }
    let n = pushes.next::<ResetOffsetNotify>(WAIT).await;
    assert_eq!((n.group, n.topic, n.offsets), (g, t, expected));
}
