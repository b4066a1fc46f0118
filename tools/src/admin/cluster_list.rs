//! `clusterList`: clusters, their brokers, and each broker's liveness.

use std::io::Write;
use std::time::Duration;

use ferromq_client::{AdminClient, MqClient};

use crate::format::{age, Table};

/// Runs the command.
///
/// # Errors
/// NameServer failures.
pub async fn run(client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let info = AdminClient::new(client.clone()).cluster_info().await?;
    let mut t = Table::new(&[
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#Heartbeat Age",
    ]);
    for (cluster, names) in &info.clusters {
        for name in names {
            let Some(data) = info.brokers.get(name) else {
                continue;
            };
            for (id, addr) in &data.addrs {
                let live = info.live.iter().find(|l| &l.addr == addr);
                t.row(vec![
                    cluster.to_string(),
                    name.to_string(),
                    id.to_string(),
                    addr.clone(),
                    live.map_or("-".into(), |l| l.version.clone()),
                    live.map_or("-".into(), |l| {
                        age(Duration::from_millis(l.last_heartbeat_ago_ms))
                    }),
                ]);
            }
        }
    }
    t.write(out)?;
    Ok(())
}
