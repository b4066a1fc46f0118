//! `consumerProgress`: a group's offsets and lag per queue, with a total.

use std::io::Write;

use ferromq_client::{AdminClient, GroupName, MqClient, TopicName};

use crate::format::Table;

/// Flags of `consumerProgress`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Consumer group.
    #[arg(short = 'g', long = "groupName")]
    pub group: GroupName,
    /// Only this topic (also lists queues the group never committed on).
    #[arg(short = 't', long = "topicName")]
    pub topic: Option<TopicName>,
}

/// Runs the command.
///
/// # Errors
/// Unknown topic, NameServer or broker failures.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let progress = AdminClient::new(client.clone())
        .consumer_progress(&a.group, a.topic.as_ref())
        .await?;
    let mut t = Table::new(&[
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
    ]);
    for q in &progress.queues {
        t.row(vec![
            q.topic.to_string(),
            q.broker_name.to_string(),
            q.queue_id.to_string(),
            q.broker_offset.to_string(),
            q.consumer_offset.map_or("-".into(), |o| o.to_string()),
            q.lag().map_or("-".into(), |l| l.to_string()),
        ]);
    }
    t.write(out)?;
    writeln!(out)?;
    writeln!(out, "Consume Group: {}", progress.group)?;
    writeln!(out, "Diff Total: {}", progress.total_lag())?;
    Ok(())
}
