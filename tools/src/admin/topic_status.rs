//! `topicStatus`: per broker and queue, min/max offset and last update.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient, TopicName};

use crate::format::{utc_millis, Table};

/// Flags of `topicStatus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
}

/// Runs the command.
///
/// # Errors
/// Unknown topic, NameServer or broker failures.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let status = AdminClient::new(client.clone())
        .topic_status(&a.topic)
        .await?;
    let mut t = Table::new(&[
        "#Broker Name",
        "#QID",
        "#Min Offset",
        "#Max Offset",
        "#Last Updated (UTC)",
    ]);
    for b in status {
        for q in b.queues {
            t.row(vec![
                b.broker_name.to_string(),
                q.queue_id.to_string(),
                q.min_offset.to_string(),
                q.max_offset.to_string(),
                utc_millis(q.last_update_ms),
            ]);
        }
    }
    t.write(out)?;
    Ok(())
}
