//! `brokerStatus -b ADDR`: every runtime figure of one broker, one
//! `key : value` line each, sorted by key (as RocketMQ prints it).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use ferromq_client::protocol::header::BrokerRuntimeInfo;
use ferromq_client::{AdminClient, MqClient};

/// Flags of `brokerStatus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Broker address, `host:port`.
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: String,
}

/// Runs the command.
///
/// # Errors
/// The broker did not answer.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let info = AdminClient::new(client.clone())
        .broker_runtime_info(&a.broker_addr)
        .await?;
    for (key, value) in lines(&info)? {
        writeln!(out, "{key:<32}: {value}")?;
    }
    Ok(())
}

/// Every field of `info` by its name, sorted; strings without quotes.
/// Going through serde keeps the list complete when fields are added.
fn lines(info: &BrokerRuntimeInfo) -> anyhow::Result<BTreeMap<String, String>> {
    let value = serde_json::to_value(info).context("encoding the broker's answer")?;
    let serde_json::Value::Object(fields) = value else {
        anyhow::bail!("the broker's answer is not a record");
    };
    Ok(fields
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use ferromq_client::{BrokerName, ClusterName};

    use super::*;

    #[test]
    fn every_field_sorted_by_key() {
        let info = BrokerRuntimeInfo {
            version: "0.1.0".into(),
            cluster: ClusterName::new("DefaultCluster").unwrap(),
            broker_name: BrokerName::new("broker-a").unwrap(),
            broker_id: 0,
            addr: "127.0.0.1:10911".into(),
            uptime_ms: 5000,
            put_tps: 12.5,
            get_tps: 0.0,
            put_total: 100,
            get_total: 7,
            commit_log_min_offset: 0,
            commit_log_max_offset: 4096,
            disk_usage: 0.25,
            flush_mode: "sync".into(),
            topics: 3,
            perm: 6,
            auto_create_topic: true,
            store_poisoned: false,
            direct_io: false,
            log_cache_hits: 0,
            log_cache_misses: 0,
            role: "master".into(),
            epoch: 1,
            replication: "async".into(),
            in_sync_replicas: 1,
            min_in_sync_replicas: 1,
            ha_addr: String::new(),
            fenced: false,
        };
        let mut out = Vec::new();
        for (k, v) in lines(&info).unwrap() {
            writeln!(out, "{k:<32}: {v}").unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .map(|l| l.split(':').next().unwrap().trim_end())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 28, "every field");
        assert!(text.contains(&format!("{:<32}: master\n", "role")));
        assert!(text.contains(&format!("{:<32}: broker-a\n", "broker_name")));
        assert!(text.contains(&format!("{:<32}: 12.5\n", "put_tps")));
        assert!(text.contains(&format!("{:<32}: true\n", "auto_create_topic")));
        assert!(text.contains(&format!("{:<32}: 127.0.0.1:10911\n", "addr")));
    }
}
