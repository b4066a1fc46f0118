//! `clusterList`: every broker of every cluster with its role (master or
//! slave, fenced), epoch, version, produce and consume TPS and uptime, asked of each broker (`GetBrokerRuntimeInfo`).
//! A broker that does not answer is still listed, with `-` for what only it
//! can tell.

use std::io::Write;
use std::time::Duration;

use ferromq_client::protocol::header::{BrokerRuntimeInfo, ClusterInfo};
use ferromq_client::{AdminClient, MqClient};
use tracing::debug;

use super::human::{tps, uptime};
use crate::format::{age, Table};

/// Runs the command.
///
/// # Errors
/// NameServer failures (broker failures only show as `-`).
pub async fn run(client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let admin = AdminClient::new(client.clone());
    let info = admin.cluster_info().await?;
    let rows = rows(&info);
    let runtime = futures::future::join_all(rows.iter().map(|r| {
        let admin = &admin;
        async move {
            admin
                .broker_runtime_info(&r.addr)
                .await
                .inspect_err(|e| debug!(addr = %r.addr, error = %e, "broker did not answer"))
                .ok()
        }
    }))
    .await;
    let mut t = Table::new(&[
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Role",
        "#Epoch",
        "#Version",
        "#InTPS",
        "#OutTPS",
        "#Uptime",
        "#Heartbeat Age",
    ]);
    for (r, rt) in rows.into_iter().zip(runtime) {
        t.row(row(r, rt.as_ref()));
    }
    t.write(out)?;
    Ok(())
}

/// One broker address as the NameServer knows it.
struct Row {
    cluster: String,
    broker: String,
    id: u64,
    addr: String,
    /// Version from the NameServer's live table, if listed there.
    version: Option<String>,
    heartbeat_ago: Option<Duration>,
}

fn rows(info: &ClusterInfo) -> Vec<Row> {
    let mut out = Vec::new();
    for (cluster, names) in &info.clusters {
        for name in names {
            let Some(data) = info.brokers.get(name) else {
                continue;
            };
            for (id, addr) in &data.addrs {
                let live = info.live.iter().find(|l| &l.addr == addr);
                out.push(Row {
                    cluster: cluster.to_string(),
                    broker: name.to_string(),
                    id: *id,
                    addr: addr.clone(),
                    version: live.map(|l| l.version.clone()),
                    heartbeat_ago: live.map(|l| Duration::from_millis(l.last_heartbeat_ago_ms)),
                });
            }
        }
    }
    out
}

fn row(r: Row, rt: Option<&BrokerRuntimeInfo>) -> Vec<String> {
    let dash = || "-".to_string();
    vec![
        r.cluster,
        r.broker,
        r.id.to_string(),
        r.addr,
        rt.map_or_else(dash, |i| {
            if i.fenced {
                format!("{} (fenced)", i.role)
            } else {
                i.role.clone()
            }
        }),
        rt.map_or_else(dash, |i| i.epoch.to_string()),
        rt.map(|i| i.version.clone())
            .or(r.version)
            .unwrap_or_else(dash),
        rt.map_or_else(dash, |i| tps(i.put_tps)),
        rt.map_or_else(dash, |i| tps(i.get_tps)),
        rt.map_or_else(dash, |i| uptime(Duration::from_millis(i.uptime_ms))),
        r.heartbeat_ago.map_or_else(dash, age),
    ]
}

#[cfg(test)]
mod tests {
    use ferromq_client::protocol::header::{BrokerData, LiveBroker};
    use ferromq_client::{BrokerName, ClusterName};

    use super::*;

    fn runtime() -> BrokerRuntimeInfo {
        BrokerRuntimeInfo {
            version: "0.1.0".into(),
            cluster: ClusterName::new("C").unwrap(),
            broker_name: BrokerName::new("broker-a").unwrap(),
            broker_id: 0,
            addr: "127.0.0.1:10911".into(),
            uptime_ms: 3 * 3_600_000 + 12 * 60_000,
            put_tps: 1234.5,
            get_tps: 0.25,
            put_total: 1,
            get_total: 2,
            commit_log_min_offset: 0,
            commit_log_max_offset: 10,
            disk_usage: 0.5,
            flush_mode: "sync".into(),
            topics: 3,
            perm: 6,
            auto_create_topic: false,
            store_poisoned: false,
            direct_io: false,
            log_cache_hits: 0,
            log_cache_misses: 0,
            role: "master".into(),
            epoch: 1,
            replication: "async".into(),
            in_sync_replicas: 1,
            min_in_sync_replicas: 1,
            ha_addr: String::new(),
            fenced: false,
        }
    }

    #[test]
    fn answering_and_silent_brokers() {
        let name = |s: &str| BrokerName::new(s).unwrap();
        let cluster = ClusterName::new("C").unwrap();
        let info = ClusterInfo {
            brokers: [
                (
                    name("broker-a"),
                    BrokerData {
                        cluster: cluster.clone(),
                        broker_name: name("broker-a"),
                        addrs: [(0, "127.0.0.1:10911".into())].into(),
                    },
                ),
                (
                    name("broker-b"),
                    BrokerData {
                        cluster: cluster.clone(),
                        broker_name: name("broker-b"),
                        addrs: [(0, "127.0.0.1:10921".into())].into(),
                    },
                ),
            ]
            .into(),
            clusters: [(cluster, [name("broker-a"), name("broker-b")].into())].into(),
            live: vec![LiveBroker {
                addr: "127.0.0.1:10921".into(),
                broker_name: name("broker-b"),
                broker_id: 0,
                version: "0.0.9".into(),
                last_heartbeat_ago_ms: 1500,
                registered_ago_ms: 10_000,
            }],
        };
        let rows = rows(&info);
        assert_eq!(rows.len(), 2);
        let mut it = rows.into_iter();
        let a = row(it.next().unwrap(), Some(&runtime()));
        assert_eq!(
            a,
            [
                "C",
                "broker-a",
                "0",
                "127.0.0.1:10911",
                "master",
                "1",
                "0.1.0",
                "1234.50",
                "0.25",
                "3h 12m",
                "-"
            ]
        );
        let fenced = BrokerRuntimeInfo {
            fenced: true,
            epoch: 7,
            ..runtime()
        };
        let a2 = row(super::rows(&info).remove(0), Some(&fenced));
        assert_eq!((a2[4].as_str(), a2[5].as_str()), ("master (fenced)", "7"));
        let b = row(it.next().unwrap(), None);
        assert_eq!(
            b,
            [
                "C",
                "broker-b",
                "0",
                "127.0.0.1:10921",
                "-",
                "-",
                "0.0.9",
                "-",
                "-",
                "-",
                "1.5s"
            ]
        );
    }
}
