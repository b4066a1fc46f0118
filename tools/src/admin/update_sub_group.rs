//! `updateSubGroup`: create or update a subscription group (its retry
//! limit, broadcasting flag, whether it may consume) on every master of a
//! cluster (`-c`, default `DefaultCluster`) or on one broker (`-b`).
//! Settings not given take their defaults, as in RocketMQ.

use std::io::Write;

use ferromq_client::protocol::header::{SubscriptionGroupConfig, DEFAULT_MAX_RECONSUME_TIMES};
use ferromq_client::{AdminClient, ClusterName, GroupName, GroupTarget, MqClient};

/// The cluster used when neither `-c` nor `-b` is given.
pub const DEFAULT_CLUSTER: &str = "DefaultCluster";

/// Flags of `updateSubGroup`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").multiple(false))]
pub struct Args {
    /// Consumer group.
    #[arg(short = 'g', long = "groupName")]
    pub group: GroupName,
    /// Cluster whose master brokers get the group (default DefaultCluster).
    #[arg(short = 'c', long = "clusterName", group = "target")]
    pub cluster: Option<ClusterName>,
    /// Address of the one broker that gets the group.
    #[arg(short = 'b', long = "brokerAddr", group = "target")]
    pub broker_addr: Option<String>,
    /// Redeliveries before a message goes to %DLQ%<group>.
    #[arg(short = 'q', long = "retry-max-times", alias = "retryMaxTimes", default_value_t = DEFAULT_MAX_RECONSUME_TIMES)]
    pub retry_max_times: u32,
    /// Whether the group consumes in broadcasting mode.
    #[arg(short = 'd', long = "consume-broadcast", alias = "consumeBroadcastEnable",
          action = clap::ArgAction::Set, default_value_t = false, value_name = "true|false")]
    pub consume_broadcast: bool,
    /// Whether the group may consume at all.
    #[arg(short = 's', long = "consume-enable", alias = "consumeEnable",
          action = clap::ArgAction::Set, default_value_t = true, value_name = "true|false")]
    pub consume_enable: bool,
}

/// The brokers `-c` / `-b` name (default: the `DefaultCluster` masters).
///
/// # Errors
/// Never in practice: the default cluster name is valid.
pub(crate) fn target(
    cluster: Option<&ClusterName>,
    broker_addr: Option<&str>,
) -> anyhow::Result<GroupTarget> {
    Ok(match (cluster, broker_addr) {
        (_, Some(addr)) => GroupTarget::Broker(addr.to_string()),
        (Some(c), None) => GroupTarget::Cluster(c.clone()),
        (None, None) => GroupTarget::Cluster(ClusterName::new(DEFAULT_CLUSTER)?),
    })
}

/// Runs the command.
///
/// # Errors
/// Unknown cluster, or a broker failure.
pub async fn run(a: Args, client: &MqClient, out: &mut impl Write) -> anyhow::Result<()> {
    let target = target(a.cluster.as_ref(), a.broker_addr.as_deref())?;
    let config = SubscriptionGroupConfig {
        group: a.group.clone(),
        retry_max_times: a.retry_max_times,
        consume_broadcast: a.consume_broadcast,
        consume_enable: a.consume_enable,
    };
    let addrs = AdminClient::new(client.clone())
        .update_subscription_group(&target, &config)
        .await?;
    for addr in addrs {
        writeln!(out, "create subscription group to {addr} success.")?;
    }
    writeln!(
        out,
        "subscription group {} (retry max times {}, consume broadcast {}, consume enable {})",
        a.group, a.retry_max_times, a.consume_broadcast, a.consume_enable
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::admin::{AdminCommand, GroupCommand};
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<GroupCommand, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("mqadmin").chain(args.iter().copied()))?;
        match cli.command {
            Command::Other(AdminCommand::Group(g)) => Ok(g),
            other => panic!("not a group command: {other:?}"),
        }
    }

    #[test]
    fn group_commands_parse() {
        let GroupCommand::UpdateSubGroup(a) = parse(&["updateSubGroup", "-g", "G"]).unwrap() else {
            panic!("wrong command")
        };
        assert_eq!(
            (a.retry_max_times, a.consume_broadcast, a.consume_enable),
            (16, false, true)
        );
        assert_eq!(
            target(a.cluster.as_ref(), a.broker_addr.as_deref()).unwrap(),
            GroupTarget::Cluster(ClusterName::new("DefaultCluster").unwrap())
        );
        let GroupCommand::UpdateSubGroup(a) = parse(&[
            "updateSubGroup",
            "-g",
            "G",
            "--retry-max-times",
            "2",
            "--consume-broadcast",
            "true",
            "-b",
            "127.0.0.1:10911",
        ])
        .unwrap() else {
            panic!("wrong command")
        };
        assert_eq!((a.retry_max_times, a.consume_broadcast), (2, true));
        assert_eq!(
            target(a.cluster.as_ref(), a.broker_addr.as_deref()).unwrap(),
            GroupTarget::Broker("127.0.0.1:10911".into())
        );
        assert!(parse(&["updateSubGroup", "-g", "G", "--consume-broadcast", "maybe"]).is_err());
        assert!(parse(&["updateSubGroup", "-g", "G", "-c", "C", "-b", "a:1"]).is_err());
        assert!(parse(&["updateSubGroup"]).is_err(), "group required");

        assert!(matches!(
            parse(&["deleteSubGroup", "-g", "G", "-c", "C"]).unwrap(),
            GroupCommand::DeleteSubGroup(_)
        ));
        assert!(matches!(
            parse(&["consumerConnection", "-g", "G"]).unwrap(),
            GroupCommand::ConsumerConnection(_)
        ));
        let GroupCommand::ResetOffsetByTime(a) =
            parse(&["resetOffsetByTime", "-g", "G", "-t", "T", "-s", "now"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.topic.as_str(), "T");
        assert!(parse(&["resetOffsetByTime", "-g", "G", "-t", "T", "-s", "soon"]).is_err());
    }
}
