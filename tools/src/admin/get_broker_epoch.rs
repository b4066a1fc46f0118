//! `getBrokerEpoch -a ADDRS -b BROKER_NAME`: a broker group's epochs,
//! oldest first: each epoch's master, when and why it was elected.

use std::io::Write;

use ferromq_client::protocol::header::GetBrokerEpochRequest;
use ferromq_client::BrokerName;

use super::controller_args::ControllerArgs;
use crate::format::{utc_millis, Table};

/// Flags of `getBrokerEpoch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker name (the group).
    #[arg(short = 'b', long = "brokerName")]
    pub broker: BrokerName,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// Runs the command.
///
/// # Errors
/// No leader answered, or it does not know the group.
pub async fn run(a: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let Some(e) = a
        .controller
        .call(
            &GetBrokerEpochRequest {
                broker_name: a.broker,
            },
            out,
        )
        .await?
    else {
        return Ok(());
    };
    let mut t = Table::new(&["#Epoch", "#MasterId", "#ElectedAt(UTC)", "#Reason"]);
    for r in &e.epochs {
        t.row(vec![
            r.epoch.to_string(),
            r.master_id.to_string(),
            utc_millis(r.elected_at_ms),
            r.reason.clone(),
        ]);
    }
    t.write(out)?;
    Ok(())
}
