//! `queryMsgByUniqueKey`: the message of a topic with a producer unique id
//! (`UNIQ_KEY`), from every master broker of the topic.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient, TopicName};

use super::message_view::{print_messages, BodyArgs};

/// Flags of `queryMsgByUniqueKey`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// The unique id, as printed by sendMessage.
    #[arg(short = 'i', long = "msgId")]
    pub unique_id: String,
    #[command(flatten)]
    pub body: BodyArgs,
}

/// Runs the command. A send retried on another broker can have stored two
/// copies; all are printed.
///
/// # Errors
/// An unknown topic, a broker failure, or no message found.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let msgs = AdminClient::new(client.clone())
        .query_by_unique_id(&a.topic, &a.unique_id)
        .await?;
    if msgs.is_empty() {
        anyhow::bail!(
            "no message with unique id {:?} in topic {}",
            a.unique_id,
            a.topic
        );
    }
    print_messages(&msgs, a.body, out)?;
    Ok(())
}
