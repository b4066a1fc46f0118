//! `getControllerMetaData -a ADDRS`: each controller node's own view of
//! the Raft group (its id, the leader, its term, its last applied index).
//! Every address is asked by itself, so followers answer too; the command
//! fails only if none answers.

use std::io::Write;

use ferromq_client::protocol::header::{ControllerMetadata, GetControllerMetadataRequest};
use ferromq_controller::client::ControllerCallError;
use ferromq_controller::ControllerClient;
use serde::Serialize;

use super::controller_args::ControllerArgs;
use crate::format::Table;

/// Flags of `getControllerMetaData`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// One node's answer, as `--json` prints it.
#[derive(Debug, Serialize)]
struct NodeAnswer {
    addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<ControllerMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs the command.
///
/// # Errors
/// No node answered.
pub async fn run(a: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let c = &a.controller;
    let mut answers = Vec::new();
    for addr in &c.addrs.0 {
        let client = ControllerClient::new(vec![addr.clone()], c.timeout());
        let (metadata, error) = match client.call(&GetControllerMetadataRequest {}).await {
            Ok(m) => (Some(m), None),
            Err(ControllerCallError::NoLeader(why)) => (None, Some(why)),
            Err(e) => (None, Some(e.to_string())),
        };
        answers.push(NodeAnswer {
            addr: addr.clone(),
            metadata,
            error,
        });
    }
    if answers.iter().all(|n| n.metadata.is_none()) {
        let why: Vec<String> = answers
            .iter()
            .map(|n| format!("{}: {}", n.addr, n.error.as_deref().unwrap_or("")))
            .collect();
        anyhow::bail!("no controller answered: {}", why.join("; "));
    }
    if c.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answers)?)?;
        return Ok(());
    }
    let mut t = Table::new(&[
        "#Address",
        "#NodeId",
        "#LeaderId",
        "#LeaderAddress",
        "#Term",
        "#LastApplied",
    ]);
    for n in &answers {
        if let Some(m) = &n.metadata {
            t.row(vec![
                n.addr.clone(),
                m.node_id.to_string(),
                m.leader_id.map_or_else(|| "-".into(), |id| id.to_string()),
                m.leader_addr.clone().unwrap_or_else(|| "-".into()),
                m.term.to_string(),
                m.last_applied.to_string(),
            ]);
        }
    }
    t.write(out)?;
    for n in &answers {
        if let Some(e) = &n.error {
            writeln!(out, "{}: unreachable ({e})", n.addr)?;
        }
    }
    Ok(())
}
