//! `electMaster -a ADDRS -b BROKER_NAME -i REPLICA_ID`: make a live
//! replica of the in-sync set its group's master in a new epoch.

use std::io::Write;

use ferromq_client::protocol::header::ElectMasterRequest;
use ferromq_client::BrokerName;

use super::controller_args::ControllerArgs;

/// Flags of `electMaster`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker name (the group).
    #[arg(short = 'b', long = "brokerName")]
    pub broker: BrokerName,
    /// The replica to make master (its id, as getSyncStateSet shows it).
    #[arg(short = 'i', long = "brokerId", value_parser = clap::value_parser!(u64).range(1..))]
    pub replica_id: u64,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// Runs the command.
///
/// # Errors
/// No leader answered, or it refused (unknown group or replica, a replica
/// not alive or not in sync).
pub async fn run(a: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let broker = a.broker.to_string();
    let Some(g) = a
        .controller
        .call(
            &ElectMasterRequest {
                broker_name: a.broker,
                replica_id: a.replica_id,
            },
            out,
        )
        .await?
    else {
        return Ok(());
    };
    match &g.master {
        Some(m) => writeln!(
            out,
            "{broker}: replica {} at {} is the master now, epoch {}",
            m.replica_id, m.addr, g.epoch
        )?,
        None => writeln!(out, "{broker}: no master, epoch {}", g.epoch)?,
    }
    writeln!(
        out,
        "in-sync set {:?}  epoch {}",
        g.sync_state_set, g.sync_state_set_epoch
    )?;
    Ok(())
}
