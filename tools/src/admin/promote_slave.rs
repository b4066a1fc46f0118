//! `promoteSlave -b ADDR`: make a slave its group's master in a new epoch
//! (fence the old master, let the slave catch up, promote it, demote the
//! old master and point the other slaves at the new one).

use std::io::Write;
use std::time::Duration;

use ferromq_client::{AdminClient, MqClient, PromoteOptions};

/// Flags of `promoteSlave`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The slave's address, `host:port`.
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: String,
    /// How long the slave may take to catch up to the fenced master.
    #[arg(long = "catch-up-timeout-ms", default_value_t = 10_000)]
    pub catch_up_timeout_ms: u64,
    /// Promote even if the slave has not caught up: the master's bytes
    /// beyond the slave's log are given up (truncated on the old master).
    #[arg(long)]
    pub force: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
///
/// # Errors
/// The broker is not a slave, did not catch up, or refused.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let opts = PromoteOptions {
        catch_up_timeout: Duration::from_millis(a.catch_up_timeout_ms),
        force: a.force,
    };
    let p = AdminClient::new(client.clone())
        .promote_slave(&a.broker_addr, &opts)
        .await?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&p)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} is the master now: epoch {} from offset {}",
        p.new_master, p.epoch, p.epoch_start
    )?;
    match (&p.old_master, p.old_master_end) {
        (Some(m), Some(end)) => writeln!(out, "old master {m} (log end {end}) is a slave of it")?,
        _ => writeln!(
            out,
            "no live master was demoted; an old master steps down when it returns"
        )?,
    }
    for s in &p.repointed {
        writeln!(out, "slave {s} follows the new master")?;
    }
    for s in &p.unreachable {
        writeln!(out, "not reached: {s} (it finds the new master by itself)")?;
    }
    Ok(())
}
