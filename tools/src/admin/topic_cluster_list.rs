//! `topicClusterList -t T`: the clusters the topic's brokers belong to,
//! one per line.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient, TopicName};

/// Flags of `topicClusterList`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
}

/// Runs the command.
///
/// # Errors
/// Unknown topic or NameServer failures.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    for cluster in AdminClient::new(client.clone())
        .topic_clusters(&a.topic)
        .await?
    {
        writeln!(out, "{cluster}")?;
    }
    Ok(())
}
