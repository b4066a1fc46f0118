//! `topicList`: every topic the NameServer knows, one per line.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient};

/// Runs the command.
///
/// # Errors
/// NameServer failures.
pub async fn run(client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    for t in AdminClient::new(client.clone()).topic_list().await? {
        writeln!(out, "{t}")?;
    }
    Ok(())
}
