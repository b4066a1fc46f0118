use ferromq_protocol::{ClusterName, GroupName, QueueOffset};

use super::{msg, producer, topic};
use crate::mock::{MockCluster, CLUSTER};
use crate::{AdminClient, ClientError, PERM_READ_WRITE};

fn cluster() -> ClusterName {
    ClusterName::new(CLUSTER).unwrap()
}

#[tokio::test]
async fn create_list_route_status_delete() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    let admin = AdminClient::new(c.client());
    let addrs = admin
        .create_topic(&cluster(), &topic("T"), 4, 4, PERM_READ_WRITE)
        .await
        .unwrap();
    assert_eq!(addrs.len(), 2);
    assert_eq!(admin.topic_list().await.unwrap(), [topic("T")]);
    let route = admin.topic_route(&topic("T")).await.unwrap();
    assert_eq!(route.queue_datas.len(), 2);

    producer(&c).send(msg("T", "x")).await.unwrap();
    let status = admin.topic_status(&topic("T")).await.unwrap();
    assert_eq!(status.len(), 2);
    let total: u64 = status
        .iter()
        .flat_map(|b| &b.queues)
        .map(|q| q.max_offset.get())
        .sum();
    assert_eq!(total, 1);

    admin.delete_topic(&cluster(), &topic("T")).await.unwrap();
    assert!(matches!(
        admin.topic_route(&topic("T")).await,
        Err(ClientError::NoRoute(_))
    ));
}

#[tokio::test]
async fn unknown_cluster_and_bad_arguments_are_refused() {
    let c = MockCluster::start(&["broker-a"]).await;
    let admin = AdminClient::new(c.client());
    let e = admin
        .create_topic(&ClusterName::new("Nope").unwrap(), &topic("T"), 8, 8, 6)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cluster Nope is unknown"), "{e}");
    assert!(admin
        .create_topic(&cluster(), &topic("T"), 0, 8, 6)
        .await
        .is_err());
}

#[tokio::test]
async fn consumer_progress_reports_lag() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let p = producer(&c);
    for i in 0..8 {
        p.send(msg("T", format!("m{i}"))).await.unwrap();
    }
    let cons = crate::PullConsumer::builder()
        .client(c.client())
        .group("g")
        .consume_from(crate::ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    cons.subscribe(&topic("T")).await.unwrap();
    let got = cons
        .poll_records(std::time::Duration::from_secs(2), 1)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    cons.commit().await.unwrap();
    let admin = AdminClient::new(c.client());
    let g = GroupName::new("g").unwrap();
    for t in [None, Some(&topic("T"))] {
        let progress = admin.consumer_progress(&g, t).await.unwrap();
        assert_eq!(progress.queues.len(), 4);
        assert_eq!(progress.total_lag(), 7);
        assert!(progress
            .queues
            .windows(2)
            .all(|w| (&w[0].broker_name, w[0].queue_id) < (&w[1].broker_name, w[1].queue_id)));
    }
    let q = &got[0].queue;
    let (min, max) = admin.queue_offsets(q).await.unwrap();
    assert_eq!(min, QueueOffset::new(0));
    assert_eq!(max, QueueOffset::new(2));
}

#[tokio::test]
async fn wipe_and_add_write_perm_reach_the_broker_and_routes_follow() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    c.create_topic("U", 2);
    let admin = AdminClient::new(c.client());
    let a = c.brokers[0].name.clone();
    let changes = admin.wipe_write_perm(&a).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].broker_id, 0);
    assert_eq!(changes[0].addr, *c.brokers[0].addr.lock());
    assert_eq!(*changes[0].result.as_ref().unwrap(), 2);
    let info = admin.broker_runtime_info(&changes[0].addr).await.unwrap();
    assert_eq!(info.perm, crate::PERM_READ);
    assert_eq!(info.broker_name, a);

    let p = producer(&c);
    for i in 0..6 {
        let r = p.send(msg("T", format!("m{i}"))).await.unwrap();
        assert_eq!(r.broker_name.as_str(), "broker-b");
    }
    admin.add_write_perm(&a).await.unwrap();
    p.client().refresh_route(&topic("T")).await.unwrap();
    let mut brokers = std::collections::BTreeSet::new();
    for i in 0..6 {
        brokers.insert(p.send(msg("T", format!("n{i}"))).await.unwrap().broker_name);
    }
    assert_eq!(brokers.len(), 2, "broker-a takes sends again");

    let unknown = ferromq_protocol::BrokerName::new("nope").unwrap();
    let e = admin.wipe_write_perm(&unknown).await.unwrap_err();
    assert!(e.to_string().contains("unknown to the NameServers"), "{e}");
}

#[tokio::test]
async fn topic_clusters_name_the_clusters_of_the_route() {
    let c = MockCluster::start(&["broker-a", "broker-b"]).await;
    c.create_topic("T", 2);
    let admin = AdminClient::new(c.client());
    let clusters = admin.topic_clusters(&topic("T")).await.unwrap();
    assert_eq!(clusters.into_iter().collect::<Vec<_>>(), [cluster()]);
    assert!(matches!(
        admin.topic_clusters(&topic("Nope")).await,
        Err(ClientError::NoRoute(_))
    ));
}
