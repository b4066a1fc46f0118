//! `queryMsgById`: the message with an offset message id, read from the
//! broker the id names (no index, no NameServer needed).

use std::io::Write;

use anyhow::Context;
use ferromq_client::{AdminClient, MessageId, MqClient};

use super::message_view::{print_message, BodyArgs};

/// Flags of `queryMsgById`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Offset message id (32 or 56 hex digits), as printed by sendMessage.
    #[arg(short = 'i', long = "msgId")]
    pub id: MessageId,
    #[command(flatten)]
    pub body: BodyArgs,
}

/// Runs the command.
///
/// # Errors
/// No message with that id; the broker cannot be reached.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let host = a.id.store_host();
    let m = AdminClient::new(client.clone())
        .query_by_id(&a.id)
        .await
        .with_context(|| format!("cannot look up message {} on broker {host}", a.id))?
        .with_context(|| {
            format!(
                "no message with id {} on broker {host} (at commit-log offset {})",
                a.id,
                a.id.offset()
            )
        })?;
    print_message(&m, a.body, out)?;
    Ok(())
}
