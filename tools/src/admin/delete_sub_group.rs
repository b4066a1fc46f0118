//! `deleteSubGroup`: delete a subscription group (its settings and
//! committed offsets) from every master of a cluster (`-c`, default
//! `DefaultCluster`) or from one broker (`-b`).

use std::io::Write;

use ferromq_client::{AdminClient, ClusterName, GroupName, MqClient};

use super::update_sub_group::target;

/// Flags of `deleteSubGroup`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").multiple(false))]
pub struct Args {
    /// Consumer group.
    #[arg(short = 'g', long = "groupName")]
    pub group: GroupName,
    /// Cluster whose master brokers drop the group (default DefaultCluster).
    #[arg(short = 'c', long = "clusterName", group = "target")]
    pub cluster: Option<ClusterName>,
    /// Address of the one broker that drops the group.
    #[arg(short = 'b', long = "brokerAddr", group = "target")]
    pub broker_addr: Option<String>,
}

/// Runs the command.
///
/// # Errors
/// Unknown cluster, or a broker failure.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let target = target(a.cluster.as_ref(), a.broker_addr.as_deref())?;
    let addrs = AdminClient::new(client.clone())
        .delete_subscription_group(&target, &a.group)
        .await?;
    for addr in addrs {
        writeln!(
            out,
            "delete subscription group {} from {addr} success.",
            a.group
        )?;
    }
    Ok(())
}
