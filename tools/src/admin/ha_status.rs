//! `haStatus -b ADDR`: a master's view of its slaves, one line each.

use std::io::Write;

use ferromq_client::{AdminClient, MqClient};

/// Flags of `haStatus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The master's address, `host:port`.
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
///
/// # Errors
/// The broker did not answer.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let st = AdminClient::new(client.clone())
        .ha_status(&a.broker_addr)
        .await?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&st)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "epoch {}  log end {}  min in-sync replicas {}  in sync {}",
        st.epoch,
        st.log_end,
        st.min_in_sync_replicas,
        1 + st.slaves.iter().filter(|s| s.in_sync).count()
    )?;
    writeln!(
        out,
        "{:<6} {:<24} {:>14} {:>14} {:>12} {:>10} {:>10} {:>14} #InSync",
        "#Id", "#Address", "#Offset", "#Flushed", "#LagBytes", "#LagMs", "#SilentMs", "#BytesSent"
    )?;
    for s in &st.slaves {
        writeln!(
            out,
            "{:<6} {:<24} {:>14} {:>14} {:>12} {:>10} {:>10} {:>14} {}",
            s.broker_id,
            s.addr,
            s.offset,
            s.flushed,
            s.lag_bytes,
            s.lag_ms,
            s.silent_ms,
            s.bytes_sent,
            s.in_sync
        )?;
    }
    Ok(())
}
