//! `getSyncStateSet -a ADDRS -b BROKER_NAME`: a broker group as the
//! controller leader has it: master, epoch, in-sync set, and every
//! replica with its last heartbeat.

use std::io::Write;

use ferromq_client::protocol::header::GetSyncStateDataRequest;
use ferromq_client::BrokerName;

use super::controller_args::ControllerArgs;
use crate::format::Table;

/// Flags of `getSyncStateSet`.
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
    let Some(d) = a
        .controller
        .call(
            &GetSyncStateDataRequest {
                broker_name: a.broker,
            },
            out,
        )
        .await?
    else {
        return Ok(());
    };
    let g = &d.group;
    writeln!(out, "broker {} of cluster {}", d.broker_name, d.cluster)?;
    match &g.master {
        Some(m) => writeln!(
            out,
            "master {} at {}  epoch {}",
            m.replica_id, m.addr, g.epoch
        )?,
        None => writeln!(out, "no master  epoch {}", g.epoch)?,
    }
    writeln!(
        out,
        "in-sync set {:?}  epoch {}",
        g.sync_state_set, g.sync_state_set_epoch
    )?;
    let mut t = Table::new(&[
        "#Id",
        "#Address",
        "#HaAddress",
        "#Alive",
        "#Epoch",
        "#LogEnd",
        "#SinceHeartbeatMs",
    ]);
    for r in &d.replicas {
        t.row(vec![
            r.replica.replica_id.to_string(),
            r.replica.addr.clone(),
            r.replica.ha_addr.clone(),
            r.alive.to_string(),
            r.epoch.to_string(),
            r.log_end.to_string(),
            r.last_heartbeat_ms
                .map_or_else(|| "-".into(), |ms| ms.to_string()),
        ]);
    }
    t.write(out)?;
    Ok(())
}
