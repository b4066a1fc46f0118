//! `sendMessage`: send one message and print where it landed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::ArgGroup;
use ferromq_client::{Message, MqClient, Producer, TopicName};

/// Producer group the tool sends as.
const TOOLS_PRODUCER_GROUP: &str = "TOOLS_PRODUCER";

/// Flags of `sendMessage`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("payload").required(true).args(["body", "body_file"])))]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Message body (UTF-8 text).
    #[arg(short = 'p', long = "body")]
    pub body: Option<String>,
    /// Read the body from this file (any bytes).
    #[arg(long = "body-file")]
    pub body_file: Option<PathBuf>,
    /// Keys, separated by spaces.
    #[arg(short = 'k', long = "keys")]
    pub keys: Option<String>,
    /// Tag.
    #[arg(long = "tags")]
    pub tags: Option<String>,
}

/// Runs the command.
///
/// # Errors
/// An unreadable body file, an invalid message, or the send's failure.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let body: Vec<u8> = match (a.body, a.body_file) {
        (Some(b), _) => b.into_bytes(),
        (None, Some(path)) => std::fs::read(&path)
            .with_context(|| format!("cannot read body file {}", path.display()))?,
        (None, None) => anyhow::bail!("give a body with -p or --body-file"),
    };
    let mut msg = Message::new(a.topic, body);
    for key in a.keys.iter().flat_map(|k| k.split_whitespace()) {
        msg = msg.with_key(key);
    }
    if let Some(tags) = a.tags {
        msg = msg.with_tags(tags);
    }
    let producer = Producer::builder()
        .client(client.clone())
        .group(TOOLS_PRODUCER_GROUP)
        .build()?;
    let r = producer.send(msg).await?;
    writeln!(out, "msg id:       {}", r.msg_id)?;
    writeln!(out, "unique id:    {}", r.unique_id)?;
    writeln!(out, "broker:       {} ({})", r.broker_name, r.broker_addr)?;
    writeln!(out, "queue id:     {}", r.queue_id)?;
    writeln!(out, "queue offset: {}", r.queue_offset)?;
    writeln!(out, "status:       {:?}", r.status)?;
    Ok(())
}
