//! `queryMsgByOffset`: the message at a queue offset of one broker's queue,
//! read without a consumer group (nothing is committed).

use std::io::Write;

use ferromq_client::{AdminClient, BrokerName, MqClient, QueueId, QueueOffset, TopicName};

use super::message_view::{print_message, BodyArgs};

/// Flags of `queryMsgByOffset`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker name (as in topicStatus), not an address.
    #[arg(short = 'b', long = "brokerName")]
    pub broker: BrokerName,
    /// Topic name.
    #[arg(short = 't', long = "topic")]
    pub topic: TopicName,
    /// Queue id.
    #[arg(short = 'q', long = "queueId")]
    pub queue_id: u32,
    /// Queue offset.
    #[arg(short = 'o', long = "offset")]
    pub offset: u64,
    #[command(flatten)]
    pub body: BodyArgs,
}

/// Runs the command.
///
/// # Errors
/// An unknown topic or broker, a broker failure, or no message there.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let (queue, offset) = (QueueId::new(a.queue_id), QueueOffset::new(a.offset));
    let m = AdminClient::new(client.clone())
        .query_by_offset(&a.broker, &a.topic, queue, offset)
        .await?;
    let Some(m) = m else {
        anyhow::bail!(
            "no message at offset {offset} of queue {queue} of topic {} on broker {} \
             (see topicStatus for the offsets it holds)",
            a.topic,
            a.broker
        );
    };
    print_message(&m, a.body, out)?;
    Ok(())
}
