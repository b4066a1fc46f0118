//! `queryMsgByKey`: messages of a topic with a key, from every master
//! broker of the topic, newest first.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient, TopicName};

use super::message_view::{print_messages, BodyArgs};

/// Flags of `queryMsgByKey`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// The key, as the producer set it.
    #[arg(short = 'k', long = "msgKey")]
    pub key: String,
    /// At most this many messages (capped at 64).
    #[arg(long = "max", default_value_t = 32)]
    pub max: u32,
    /// Only messages stored at or after this time (ms since the epoch).
    #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
    pub begin_ms: u64,
    /// Only messages stored at or before this time (ms since the epoch).
    #[arg(short = 'e', long = "endTimestamp", default_value_t = u64::MAX)]
    pub end_ms: u64,
    #[command(flatten)]
    pub body: BodyArgs,
}

/// Runs the command.
///
/// # Errors
/// An invalid key, an unknown topic, a broker failure, or no message found.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let msgs = AdminClient::new(client.clone())
        .query_by_key_in_range(&a.topic, &a.key, a.max, a.begin_ms..=a.end_ms)
        .await?;
    if msgs.is_empty() {
        anyhow::bail!("no message with key {:?} in topic {}", a.key, a.topic);
    }
    print_messages(&msgs, a.body, out)?;
    out.flush()?;
    eprintln!("found {} message(s) with key {:?}", msgs.len(), a.key);
    Ok(())
}
