//! The controller group on its own: three nodes on hosts of their own
//! (two `mqnamesrv --controller`, one `mqcontroller`), brokers played by the test (it
//! registers and heartbeats as brokers do). Raft leader kills during an
//! election, a restart of every node, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq_controller::ControllerClient;
use ferromq_protocol::header::{
    AlterSyncStateSet, BrokerHeartbeat, ControllerMetadata, ControllerRegisterBroker,
    GetBrokerEpochRequest, GetControllerMetadataRequest, GetSyncStateDataRequest, GroupView,
    SyncStateData,
};
use ferromq_protocol::{BrokerName, ClusterName, ResponseCode};
use ferromq_tests::hosts::{Host, Net};
use ferromq_tests::{controller_peers, wait_for, ControllerProcess};

fn name(s: &str) -> BrokerName {
    BrokerName::new(s).unwrap()
}

fn cluster() -> ClusterName {
    ClusterName::new("DefaultCluster").unwrap()
}

/// Three controller nodes, each on a host of its own, data in temp dirs.
struct Controllers {
    hosts: Vec<Host>,
    dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<ControllerProcess>>,
    peers: String,
    args: Vec<String>,
}

impl Controllers {
    fn start(net: &Net, args: &[&str]) -> Self {
        let hosts: Vec<Host> = (1..=3).map(|i| net.host(&format!("ctl{i}"))).collect();
        let peers = controller_peers(&hosts.iter().collect::<Vec<_>>());
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut c = Self {
            hosts,
            dirs,
            nodes: vec![None, None, None],
            peers,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..3 {
            c.restart(i);
        }
        c
    }

    /// Nodes 1 and 2 run in NameServers (`mqnamesrv --controller`), node 3
    /// on its own (`mqcontroller`): both ways of running one.
    fn restart(&mut self, i: usize) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let start = if i == 2 {
            ControllerProcess::start_standalone_in
        } else {
            ControllerProcess::start_in
        };
        self.nodes[i] = Some(start(
            &self.hosts[i],
            i as u64 + 1,
            &self.peers,
            self.dirs[i].path(),
            &args,
        ));
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            n.kill9();
        }
    }

    fn addrs(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| h.addr(ferromq_tests::CONTROLLER_PORT))
            .collect()
    }

    fn client(&self) -> Arc<ControllerClient> {
        Arc::new(ControllerClient::new(self.addrs(), Duration::from_secs(2)))
    }

    /// Each node's own view of the group.
    async fn metadata(&self, i: usize) -> Option<ControllerMetadata> {
        ControllerClient::new(vec![self.addrs()[i].clone()], Duration::from_secs(1))
            .call(&GetControllerMetadataRequest {})
            .await
            .ok()
    }

    /// Waits until every live node names the same leader, and returns its
    /// index.
    async fn leader(&self) -> usize {
        wait_for(
            "one controller leader that every live node knows",
            Duration::from_secs(30),
            || async {
                let mut leader = None;
                for i in (0..3).filter(|i| self.nodes[*i].is_some()) {
                    let m = self.metadata(i).await?;
                    let l = m.leader_id?;
                    if leader.is_some_and(|x| x != l) {
                        return None;
                    }
                    leader = Some(l);
                }
                let l = leader? as usize - 1;
                self.nodes[l].is_some().then_some(l)
            },
        )
        .await
    }
}

/// A broker played by the test: registered, then heartbeating from a
/// task until stopped.
struct FakeReplica {
    id: u64,
    store_id: String,
    beating: Arc<AtomicBool>,
}

impl FakeReplica {
    async fn register(client: &ControllerClient, group: &str, store_id: &str) -> (Self, GroupView) {
        let r = client
            .call(&ControllerRegisterBroker {
                cluster: cluster(),
                broker_name: name(group),
                replica_id: 0,
                store_id: store_id.into(),
                addr: format!("{store_id}.example:10911"),
                ha_addr: format!("{store_id}.example:10912"),
                epoch: 0,
                log_end: 0,
            })
            .await
            .unwrap();
        (
            Self {
                id: r.replica_id,
                store_id: store_id.into(),
                beating: Arc::new(AtomicBool::new(true)),
            },
            r.group,
        )
    }

    fn heartbeat(&self, group: &str, log_end: u64) -> BrokerHeartbeat {
        BrokerHeartbeat {
            cluster: cluster(),
            broker_name: name(group),
            replica_id: self.id,
            store_id: self.store_id.clone(),
            epoch: 1,
            log_end,
        }
    }

    /// Heartbeats every 200 ms from a task until [`Self::stop`].
    fn beat(&self, client: Arc<ControllerClient>, group: &str, log_end: u64) {
        let hb = self.heartbeat(group, log_end);
        let beating = self.beating.clone();
        tokio::spawn(async move {
            while beating.load(Ordering::Relaxed) {
                let _ = client.call(&hb).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    fn stop(&self) {
        self.beating.store(false, Ordering::Relaxed);
    }
}

async fn group_data(client: &ControllerClient, group: &str) -> Option<SyncStateData> {
    client
        .call(&GetSyncStateDataRequest {
            broker_name: name(group),
        })
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_survives_a_leader_kill_and_state_survives_a_restart_of_every_node() {
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let mut ctl = Controllers::start(&net, &["--broker-heartbeat-timeout-ms", "1500"]);
    let first_leader = ctl.leader().await;
    let client = ctl.client();

    // A group of three: the first to register is its master.
    let mut replicas = Vec::new();
    for store in ["a", "b", "c"] {
        let (r, view) = FakeReplica::register(&client, "g1", store).await;
        replicas.push(r);
        assert_eq!(view.master.map(|m| m.replica_id), Some(1));
        assert_eq!(view.epoch, 1);
    }
    assert_eq!(
        replicas.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let view = client
        .call(&AlterSyncStateSet {
            broker_name: name("g1"),
            master_id: 1,
            master_epoch: 1,
            sync_state_set_epoch: 1,
            sync_state_set: vec![1, 2, 3],
        })
        .await
        .unwrap();
    assert_eq!(view.sync_state_set, vec![1, 2, 3]);
    // Replica 3 has the longer log: it is the one to elect.
    replicas[0].beat(client.clone(), "g1", 100);
    replicas[1].beat(client.clone(), "g1", 90);
    replicas[2].beat(client.clone(), "g1", 100);
    wait_for("every replica alive", Duration::from_secs(10), || async {
        let d = group_data(&client, "g1").await?;
        d.replicas.iter().all(|r| r.alive).then_some(())
    })
    .await;

    // The master goes silent, and the Raft leader dies in the middle of
    // noticing it.
    replicas[0].stop();
    ctl.kill9(first_leader);
    let second_leader = ctl.leader().await;
    assert_ne!(second_leader, first_leader);
    let data = wait_for("a new master of g1", Duration::from_secs(20), || async {
        let d = group_data(&client, "g1").await?;
        (d.group.epoch == 2).then_some(d)
    })
    .await;
    assert_eq!(
        data.group.master.as_ref().map(|m| m.replica_id),
        Some(3),
        "the live in-sync replica with the longest log"
    );
    assert_eq!(
        data.group.sync_state_set,
        vec![2, 3],
        "the old master left the set"
    );
    let epochs = client
        .call(&GetBrokerEpochRequest {
            broker_name: name("g1"),
        })
        .await
        .unwrap();
    assert_eq!(
        epochs
            .epochs
            .iter()
            .map(|e| (e.epoch, e.master_id, e.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, 1, "first master"), (2, 3, "master silent")]
    );

    // The old master is refused as master of epoch 1 now.
    let err = client
        .call(&AlterSyncStateSet {
            broker_name: name("g1"),
            master_id: 1,
            master_epoch: 1,
            sync_state_set_epoch: data.group.sync_state_set_epoch,
            sync_state_set: vec![1],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ResponseCode::ControllerInvalidMaster));

    // Every node killed and started again: the state is intact.
    for r in &replicas {
        r.stop();
    }
    ctl.restart(first_leader);
    for i in 0..3 {
        ctl.kill9(i);
    }
    for i in 0..3 {
        ctl.restart(i);
    }
    ctl.leader().await;
    let client = ctl.client();
    let after = wait_for(
        "the group back after the restart",
        Duration::from_secs(20),
        || async { group_data(&client, "g1").await },
    )
    .await;
    assert_eq!(after.group, data.group);
    assert_eq!(
        after
            .replicas
            .iter()
            .map(|r| r.replica.replica_id)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let epochs_after = client
        .call(&GetBrokerEpochRequest {
            broker_name: name("g1"),
        })
        .await
        .unwrap();
    assert_eq!(epochs_after, epochs);
    // Nobody heartbeats now, but a restarted leader gives the master a
    // full timeout and then finds no other in-sync replica alive either:
    // no election.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let still = group_data(&client, "g1").await.unwrap();
    assert_eq!(still.group.epoch, 2, "no live replica to elect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    use tokio::io::AsyncWriteExt;
    ferromq_tests::init_tracing();
    let Some(net) = Net::new() else { return };
    let ctl = Controllers::start(&net, &[]);
    let leader = ctl.leader().await;
    let client = ctl.client();
    let (a, _) = FakeReplica::register(&client, "g2", "store-a").await;
    let before = group_data(&client, "g2").await.unwrap().group;

    // Garbage on every node's port.
    for addr in ctl.addrs() {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = s.write_all(&[0xff; 64]).await;
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
    }
    // Another store claiming replica 1's id.
    let err = client
        .call(&ControllerRegisterBroker {
            cluster: cluster(),
            broker_name: name("g2"),
            replica_id: a.id,
            store_id: "intruder".into(),
            addr: "evil:10911".into(),
            ha_addr: "evil:10912".into(),
            epoch: 9,
            log_end: 1 << 40,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ResponseCode::ControllerBrokerIdInvalid));
    // A heartbeat with the wrong store.
    let mut hb = a.heartbeat("g2", 0);
    hb.store_id = "intruder".into();
    let err = client.call(&hb).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(ResponseCode::ControllerBrokerNeedToBeRegistered)
    );
    // A master epoch that is not the group's.
    let err = client
        .call(&AlterSyncStateSet {
            broker_name: name("g2"),
            master_id: a.id,
            master_epoch: 7,
            sync_state_set_epoch: before.sync_state_set_epoch,
            sync_state_set: vec![a.id],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ResponseCode::ControllerFencedMasterEpoch));
    // A Raft vote from a node that is not a member, and one that does not
    // decode.
    let conn = ferromq_remoting::Connection::connect(&ctl.addrs()[leader], Duration::from_secs(2))
        .await
        .unwrap();
    let vote: openraft::raft::VoteRequest<u64> =
        openraft::raft::VoteRequest::new(openraft::Vote::new(1_000, 99), None);
    for body in [postcard::to_stdvec(&vote).unwrap(), vec![1, 2, 3]] {
        let f = conn
            .request(
                ferromq_protocol::RequestCode::RaftVote.as_u16(),
                ferromq_protocol::encode_header(&ferromq_protocol::header::RaftVoteRequest {})
                    .unwrap(),
                bytes::Bytes::from(body),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        assert_ne!(f.code, ResponseCode::Success.as_u16());
    }
    // The leader is still the leader (a vote at term 1000 from a stranger
    // would have deposed it), and the group is as it was.
    assert_eq!(ctl.leader().await, leader);
    let m = ctl.metadata(leader).await.unwrap();
    assert!(m.term < 1_000, "term {}", m.term);
    assert_eq!(group_data(&client, "g2").await.unwrap().group, before);
}
