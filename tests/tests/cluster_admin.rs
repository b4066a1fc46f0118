//! Cluster operations with real processes and the real `mqadmin`: a broker
//! silent past the expiry time leaves `clusterList` and the routes and
//! comes back when restarted; `wipeWritePerm` drains a broker and
//! `addWritePerm` brings it back; `brokerStatus`, `topicClusterList` and
//! `updateTopic -b`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use ferromq_client::protocol::header::PERM_WRITE;
use ferromq_client::{
    AdminClient, BrokerName, ConsumeFrom, Message, Producer, PullConsumer, TopicName,
};
use ferromq_tests::multi::{mqadmin, MultiCluster, REGISTER_INTERVAL};
use ferromq_tests::wait_for;

async fn create_topic(c: &MultiCluster, topic: &str) -> TopicName {
    let (name, stdout) = c.create_topic(topic, 2).await;
    assert_eq!(stdout.matches("success").count(), 2, "{stdout}");
    name
}

/// The `clusterList` line of the broker at `addr`, split into columns.
fn cluster_list_row(stdout: &str, addr: &str) -> Option<Vec<String>> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == addr))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
}

/// Broker names with queues in `topic`'s route on NameServer `ns`.
async fn route_brokers(ns: &str, topic: &TopicName) -> BTreeSet<String> {
    let admin = AdminClient::connect(ns).unwrap();
    match admin.topic_route(topic).await {
        Ok(r) => r
            .queue_datas
            .iter()
            .map(|q| q.broker_name.to_string())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_expires_and_comes_back_when_restarted() {
    let mut c = MultiCluster::start(2, &["broker-a", "broker-b"], &[]).await;
    let topic = create_topic(&c, "Expiry").await;

    let run = mqadmin(&c.namesrv_list(), &["clusterList"]).await;
    assert!(run.ok, "{run:?}");
    assert!(run.stdout.starts_with("#Cluster Name"), "{}", run.stdout);
    for i in 0..2 {
        let row = cluster_list_row(&run.stdout, c.broker_addr(i)).unwrap();
        // cluster, name, id, addr, role, epoch, version, in TPS, out TPS,
        // uptime (2 words or 1), heartbeat age.
        assert_eq!(
            &row[..6],
            [
                "DefaultCluster",
                c.broker_name(i),
                "0",
                c.broker_addr(i),
                "master",
                "1"
            ]
        );
        assert_eq!(row[6], env!("CARGO_PKG_VERSION"));
        assert!(
            row[7].parse::<f64>().is_ok() && row[8].parse::<f64>().is_ok(),
            "{row:?}"
        );
        assert!(row[9].ends_with('s') || row[9].ends_with('m'), "{row:?}");
    }

    // SIGKILL: no unregister, so only the expiry (3 s) removes it.
    let old_addr = c.broker_addr(1).to_string();
    c.kill_broker(1);
    for i in 0..2 {
        let ns = c.namesrv_addr(i).to_string();
        wait_for("broker-b to expire", Duration::from_secs(15), || async {
            let run = mqadmin(&ns, &["clusterList"]).await;
            let gone =
                run.ok && !run.stdout.contains("broker-b") && run.stdout.contains("broker-a");
            let routed = route_brokers(&ns, &topic).await;
            (gone && routed == BTreeSet::from(["broker-a".to_string()])).then_some(())
        })
        .await;
        let info = c.cluster_info(i).await;
        assert!(info.live.iter().all(|l| l.addr != old_addr));
        assert!(!info
            .brokers
            .contains_key(&BrokerName::new("broker-b").unwrap()));
    }

    // Restarted on its store, it registers at once: well within a few
    // register intervals of the process start (restart_broker waits for
    // every NameServer to list it).
    let took = c.restart_broker(1).await;
    assert!(took < REGISTER_INTERVAL * 4, "came back after {took:?}");
    for i in 0..2 {
        let ns = c.namesrv_addr(i).to_string();
        assert_eq!(
            route_brokers(&ns, &topic).await,
            BTreeSet::from(["broker-a".to_string(), "broker-b".to_string()]),
            "route on {ns}"
        );
    }
    let run = mqadmin(&c.namesrv_list(), &["clusterList"]).await;
    let row = cluster_list_row(&run.stdout, c.broker_addr(1)).unwrap();
    assert_eq!(row[1], "broker-b");
    assert_ne!(row[7], "-", "the restarted broker answers: {row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_write_perm_drains_a_broker_and_add_write_perm_restores_it() {
    let c = MultiCluster::start(2, &["broker-a", "broker-b"], &[]).await;
    let topic = create_topic(&c, "Drain").await;
    let client = c.client(Duration::from_millis(300));
    let producer = Producer::builder().client(client.clone()).build().unwrap();
    let send = |i: usize| {
        let p = producer.clone();
        let t = topic.clone();
        async move { p.send(Message::new(t, format!("m{i}"))).await.unwrap() }
    };
    let mut warm_up = 0;
    let mut seen = BTreeSet::new();
    while seen.len() < 2 {
        seen.insert(send(warm_up).await.broker_name.to_string());
        warm_up += 1;
        assert!(warm_up < 100, "both brokers take sends");
    }

    let run = mqadmin(&c.namesrv_list(), &["wipeWritePerm", "-b", "broker-a"]).await;
    assert!(run.ok, "{run:?}");
    let line = run.stdout.lines().next().unwrap();
    assert!(
        line.contains(c.broker_addr(0)) && line.contains("OK, 1 topics"),
        "{line}"
    );

    // From now on every send goes to broker-b, including those that still
    // had broker-a in a cached route (refused, retried elsewhere).
    for i in 0..200 {
        let r = send(1000 + i).await;
        assert_eq!(
            r.broker_name.as_str(),
            "broker-b",
            "send {i} after the wipe"
        );
    }
    for ns in c.live_namesrvs() {
        let admin = AdminClient::connect(&ns).unwrap();
        let r = admin.topic_route(&topic).await.unwrap();
        let a = r
            .queue_datas
            .iter()
            .find(|q| q.broker_name.as_str() == "broker-a")
            .unwrap();
        assert_eq!(a.perm & PERM_WRITE, 0, "route on {ns}: {r:?}");
    }
    let status = mqadmin(&c.namesrv_list(), &["brokerStatus", "-b", c.broker_addr(0)]).await;
    assert!(status.ok, "{status:?}");
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.split(':').map(str::trim).eq(["perm", "4"])),
        "{}",
        status.stdout
    );

    // Reads from the wiped broker go on: every warm-up message is there.
    let consumer = PullConsumer::builder()
        .client(client.clone())
        .group("drain-reader")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    consumer.subscribe(&topic).await.unwrap();
    let all = ferromq_tests::consume_n(&consumer, warm_up + 200, Duration::from_secs(15)).await;
    assert_eq!(all.len(), warm_up + 200);
    consumer.shutdown().await;

    let run = mqadmin(&c.namesrv_list(), &["addWritePerm", "-b", "broker-a"]).await;
    assert!(run.ok, "{run:?}");
    assert!(
        run.stdout.contains("add write perm of broker broker-a"),
        "{}",
        run.stdout
    );
    // The broker re-registers at once; the producer sees it at its next
    // route refresh (300 ms).
    let mut i = 2000;
    wait_for(
        "a send to reach broker-a again",
        Duration::from_secs(10),
        || {
            i += 1;
            let s = send(i);
            async move { (s.await.broker_name.as_str() == "broker-a").then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_status_topic_cluster_list_and_update_topic_on_one_broker() {
    let c = MultiCluster::start(1, &["broker-a", "broker-b"], &[]).await;
    let ns = c.namesrv_list();

    let run = mqadmin(&ns, &["brokerStatus", "-b", c.broker_addr(1)]).await;
    assert!(run.ok, "{run:?}");
    let keys: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "sorted by key");
    for (k, v) in [
        ("broker_name", "broker-b"),
        ("cluster", "DefaultCluster"),
        ("perm", "6"),
        ("auto_create_topic", "false"),
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.split_once(':').map(|(a, b)| (a.trim(), b.trim())) == Some((k, v))),
            "{k}: {}",
            run.stdout
        );
    }
    let dead = mqadmin(&ns, &["brokerStatus", "-b", "127.0.0.1:1"]).await;
    assert!(!dead.ok && dead.stderr.contains("127.0.0.1:1"), "{dead:?}");

    // -b: only that broker gets the topic.
    let run = mqadmin(
        &ns,
        &[
            "updateTopic",
            "-t",
            "OnlyB",
            "-b",
            c.broker_addr(1),
            "-w",
            "2",
            "-r",
            "2",
        ],
    )
    .await;
    assert!(run.ok, "{run:?}");
    let topic = TopicName::new("OnlyB").unwrap();
    wait_for("the route of OnlyB", Duration::from_secs(10), || async {
        let b = route_brokers(&ns, &topic).await;
        (!b.is_empty()).then_some(b)
    })
    .await;
    assert_eq!(
        route_brokers(&ns, &topic).await,
        BTreeSet::from(["broker-b".to_string()])
    );
    let both = mqadmin(
        &ns,
        &[
            "updateTopic",
            "-t",
            "X",
            "-b",
            c.broker_addr(1),
            "-c",
            "DefaultCluster",
        ],
    )
    .await;
    assert!(!both.ok, "-b and -c together are refused");

    let run = mqadmin(&ns, &["topicClusterList", "-t", "OnlyB"]).await;
    assert!(run.ok, "{run:?}");
    assert_eq!(run.stdout, "DefaultCluster\n");
    let run = mqadmin(&ns, &["topicClusterList", "-t", "Nope"]).await;
    assert!(
        !run.ok && run.stderr.contains("no route for topic Nope"),
        "{run:?}"
    );

    let run = mqadmin(&ns, &["wipeWritePerm", "-b", "broker-z"]).await;
    assert!(!run.ok && run.stderr.contains("broker-z"), "{run:?}");
}
