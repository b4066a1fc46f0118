//! `updateTopic`: create or update a topic on every master of a cluster.

use std::io::Write;

use ferromq_client::{AdminClient, ClusterName, MqClient, TopicName};

/// Flags of `updateTopic`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Cluster whose master brokers get the topic.
    #[arg(short = 'c', long = "clusterName")]
    pub cluster: ClusterName,
    /// Read queues per broker.
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    pub read_queues: u32,
    /// Write queues per broker.
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    pub write_queues: u32,
    /// Permission: 2 write, 4 read, 6 read and write.
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    pub perm: u8,
}

/// Runs the command.
///
/// # Errors
/// Unknown cluster, invalid counts, or a broker failure.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let admin = AdminClient::new(client.clone());
    let addrs = admin
        .create_topic(&a.cluster, &a.topic, a.read_queues, a.write_queues, a.perm)
        .await?;
    for addr in addrs {
        writeln!(out, "create topic to {addr} success.")?;
    }
    writeln!(
        out,
        "topic {} (read queues {}, write queues {}, perm {}) on cluster {}",
        a.topic, a.read_queues, a.write_queues, a.perm, a.cluster
    )?;
    Ok(())
}
