//! `consumerConnection -g G`: the members of a consumer group as every
//! master broker sees them (client id, address, version, last heartbeat),
//! then the group's subscriptions, consume type and message model.

use std::collections::BTreeSet;
use std::io::Write;

use ferromq_client::{AdminClient, GroupName, MqClient};

use crate::format::Table;

/// Flags of `consumerConnection`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Consumer group.
    #[arg(short = 'g', long = "consumerGroup")]
    pub group: GroupName,
}

/// Runs the command.
///
/// # Errors
/// NameServer failures, every broker failing, or no member connected.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let brokers = AdminClient::new(client.clone())
        .consumer_connections(&a.group)
        .await?;
    let mut t = Table::new(&[
        "#Broker",
        "#ClientId",
        "#ClientAddr",
        "#Version",
        "#LastHeartbeat",
    ]);
    let mut subs = BTreeSet::new();
    let (mut kind, mut model) = (None, None);
    let mut members = 0;
    let mut failures = Vec::new();
    for b in &brokers {
        let c = match &b.result {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{} ({}): {e}", b.broker_name, b.broker_addr));
                continue;
            }
        };
        for conn in &c.connections {
            members += 1;
            t.row(vec![
                b.broker_name.to_string(),
                conn.client_id.clone(),
                conn.addr.clone(),
                conn.version.clone(),
                format!("{} ms ago", conn.last_heartbeat_ago_ms),
            ]);
        }
        subs.extend(
            c.subscriptions
                .iter()
                .map(|s| (s.topic.to_string(), s.expression.clone())),
        );
        kind = kind.or(c.consume_type);
        model = model.or(c.model);
    }
    if members == 0 {
        match failures.first() {
            Some(f) if failures.len() == brokers.len() => anyhow::bail!("no broker answered: {f}"),
            _ => anyhow::bail!("no member of group {} is connected to any broker", a.group),
        }
    }
    t.write(out)?;
    writeln!(out)?;
    writeln!(out, "Below is subscription:")?;
    let mut st = Table::new(&["#Topic", "#SubExpression"]);
    for (topic, expr) in subs {
        st.row(vec![topic, expr]);
    }
    st.write(out)?;
    writeln!(out)?;
    writeln!(
        out,
        "ConsumeType: {}",
        kind.map_or("-".to_string(), |k| format!("{k:?}"))
    )?;
    writeln!(
        out,
        "MessageModel: {}",
        model.map_or("-".to_string(), |m| format!("{m:?}"))
    )?;
    for f in failures {
        eprintln!("warning: broker did not answer: {f}");
    }
    Ok(())
}
