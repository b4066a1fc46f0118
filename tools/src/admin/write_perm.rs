//! `wipeWritePerm -b BROKER_NAME` / `addWritePerm -b BROKER_NAME`: drain a
//! broker before maintenance (producers stop choosing it, consumers keep
//! reading it) and bring it back. The broker name's addresses come from
//! the NameServers; the request goes to the master and any slaves.

use std::io::Write;

use ferromq_client::{AdminClient, BrokerName, MqClient, PermChange};

/// Flags of `wipeWritePerm` and `addWritePerm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker name (as `clusterList` shows it).
    #[arg(short = 'b', long = "brokerName")]
    pub broker: BrokerName,
}

/// Runs `wipeWritePerm`.
///
/// # Errors
/// Unknown broker name, NameServer failures, or an address that failed
/// (after the others were printed).
pub async fn wipe(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let changes = AdminClient::new(client.clone())
        .wipe_write_perm(&a.broker)
        .await?;
    report("wipe", &a.broker, changes, out)
}

/// Runs `addWritePerm`.
///
/// # Errors
/// As [`wipe`].
pub async fn add(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let changes = AdminClient::new(client.clone())
        .add_write_perm(&a.broker)
        .await?;
    report("add", &a.broker, changes, out)
}

fn report(
    verb: &str,
    broker: &BrokerName,
    changes: Vec<PermChange>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for c in changes {
        match c.result {
            Ok(topics) => writeln!(
                out,
                "{verb} write perm of broker {broker} (id {}) at {}: OK, {topics} topics",
                c.broker_id, c.addr
            )?,
            Err(e) => failed.push(format!("{} (id {}): {e}", c.addr, c.broker_id)),
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{verb} write perm of broker {broker} failed at {}",
            failed.join("; ")
        );
    }
    Ok(())
}
