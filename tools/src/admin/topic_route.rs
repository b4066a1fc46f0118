//! `topicRoute`: the NameServer's route of a topic, as pretty JSON.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient, TopicName};

/// Flags of `topicRoute`.
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
    let route = AdminClient::new(client.clone())
        .topic_route(&a.topic)
        .await?;
    serde_json::to_writer_pretty(&mut *out, &route)?;
    writeln!(out)?;
    Ok(())
}
