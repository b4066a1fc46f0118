//! `cleanBrokerData -a ADDRS -b BROKER_NAME [-i ID;ID...]`: make the
//! controller forget retired replicas of a group, or the whole group.
//! The controller refuses the master and live replicas.

use std::io::Write;

use ferromq_client::protocol::header::CleanBrokerDataRequest;
use ferromq_client::BrokerName;

use super::controller_args::ControllerArgs;

/// Flags of `cleanBrokerData`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker name (the group).
    #[arg(short = 'b', long = "brokerName")]
    pub broker: BrokerName,
    /// Replica ids to forget, separated by `;`; none: the whole group,
    /// which must have no live replica.
    #[arg(
        short = 'i',
        long = "brokerControllerIdsToClean",
        value_delimiter = ';',
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub replica_ids: Vec<u64>,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// Runs the command.
///
/// # Errors
/// No leader answered, or it refused.
pub async fn run(a: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let broker = a.broker.to_string();
    let ids = a.replica_ids.clone();
    let Some(_) = a
        .controller
        .call(
            &CleanBrokerDataRequest {
                broker_name: a.broker,
                replica_ids: a.replica_ids,
            },
            out,
        )
        .await?
    else {
        return Ok(());
    };
    if ids.is_empty() {
        writeln!(out, "cleaned broker {broker}: every replica")?;
    } else {
        let noun = if ids.len() == 1 {
            "replica"
        } else {
            "replicas"
        };
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        writeln!(out, "cleaned broker {broker}: {noun} {}", ids.join(";"))?;
    }
    Ok(())
}
