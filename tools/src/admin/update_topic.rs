//! `updateTopic`: create or update a topic on every master of a cluster
//! (`-c`) or on one broker (`-b`).

use std::io::Write;

use ferromq_client::{AdminClient, ClusterName, MqClient, TopicName};

/// Flags of `updateTopic`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Cluster whose master brokers get the topic.
    #[arg(short = 'c', long = "clusterName", group = "target")]
    pub cluster: Option<ClusterName>,
    /// Address of the one broker that gets the topic.
    #[arg(short = 'b', long = "brokerAddr", group = "target")]
    pub broker_addr: Option<String>,
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
    let (addrs, target) = match (&a.cluster, &a.broker_addr) {
        (Some(cluster), _) => {
            let addrs = admin
                .create_topic(cluster, &a.topic, a.read_queues, a.write_queues, a.perm)
                .await?;
            (addrs, format!("cluster {cluster}"))
        }
        (None, Some(addr)) => {
            admin
                .create_topic_on_broker(addr, &a.topic, a.read_queues, a.write_queues, a.perm)
                .await?;
            (vec![addr.clone()], format!("broker {addr}"))
        }
        (None, None) => anyhow::bail!("give -c CLUSTER or -b BROKER_ADDR"),
    };
    for addr in addrs {
        writeln!(out, "create topic to {addr} success.")?;
    }
    writeln!(
        out,
        "topic {} (read queues {}, write queues {}, perm {}) on {target}",
        a.topic, a.read_queues, a.write_queues, a.perm
    )?;
    Ok(())
}
