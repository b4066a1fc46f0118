//! `deleteTopic`: delete a topic from a cluster's masters and the NameServers.

use std::io::Write;

use ferromq_client::{AdminClient, ClusterName, MqClient, TopicName};

/// Flags of `deleteTopic`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Cluster to delete it from.
    #[arg(short = 'c', long = "clusterName")]
    pub cluster: ClusterName,
}

/// Runs the command.
///
/// # Errors
/// Unknown cluster, or a broker or NameServer failure.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    AdminClient::new(client.clone())
        .delete_topic(&a.cluster, &a.topic)
        .await?;
    writeln!(
        out,
        "delete topic [{}] from cluster [{}] success.",
        a.topic, a.cluster
    )?;
    Ok(())
}
