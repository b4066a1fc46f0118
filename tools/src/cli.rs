//! The `mqadmin` command line: RocketMQ's command names and short flags.

use clap::{Parser, Subcommand};
use ferromq_client::DEFAULT_NAMESRV_ADDR;

use crate::admin::{
    consume_message, consumer_progress, delete_topic, send_message, topic_route, topic_status,
    update_topic,
};

/// FerroMQ administration tool.
#[derive(Debug, Parser)]
#[command(
    name = "mqadmin",
    version,
    about = "FerroMQ administration tool (RocketMQ mqadmin command names)"
)]
pub struct Cli {
    /// NameServer addresses, `host:port` separated by `;`.
    #[arg(
        help = "NameServer address(es): host:port[;host:port]",
        short = 'n',
        long = "namesrvAddr",
        global = true,
        env = "NAMESRV_ADDR",
        default_value = DEFAULT_NAMESRV_ADDR
    )]
    pub namesrv: String,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `mqadmin` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update a topic on every master broker of a cluster (-c) or
    /// on one broker (-b).
    #[command(name = "updateTopic")]
    UpdateTopic(update_topic::Args),
    /// Delete a topic from a cluster's brokers and from the NameServers.
    #[command(name = "deleteTopic")]
    DeleteTopic(delete_topic::Args),
    /// List every topic the NameServer knows.
    #[command(name = "topicList")]
    TopicList,
    /// Show a topic's route: brokers, addresses and queue counts (JSON).
    #[command(name = "topicRoute")]
    TopicRoute(topic_route::Args),
    /// Show a topic's queues on each broker: offsets and last update.
    #[command(name = "topicStatus")]
    TopicStatus(topic_status::Args),
    /// List clusters and their brokers: version, TPS in and out, uptime.
    #[command(name = "clusterList")]
    ClusterList,
    /// Send one message.
    #[command(name = "sendMessage")]
    SendMessage(send_message::Args),
    /// Consume messages as a consumer group and commit its offsets.
    #[command(name = "consumeMessage")]
    ConsumeMessage(consume_message::Args),
    /// Show a consumer group's offsets and lag per queue.
    #[command(name = "consumerProgress")]
    ConsumerProgress(consumer_progress::Args),
    /// queryMsgById, queryMsgByKey, queryMsgByOffset, queryMsgByUniqueKey,
    /// brokerStatus, wipeWritePerm, addWritePerm, topicClusterList,
    /// haStatus, promoteSlave, updateSubGroup, deleteSubGroup,
    /// consumerConnection, resetOffsetByTime, getControllerMetaData,
    /// getSyncStateSet, getBrokerEpoch, electMaster, cleanBrokerData: the
    /// commands that dispatch themselves ([`crate::admin::AdminCommand`]).
    #[command(flatten)]
    Other(crate::admin::AdminCommand),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mqadmin").chain(args.iter().copied()))
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn update_topic_defaults_and_flags() {
        let cli = parse(&["updateTopic", "-t", "T", "-c", "DefaultCluster"]).unwrap();
        let Command::UpdateTopic(a) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!((a.read_queues, a.write_queues, a.perm), (8, 8, 6));
        assert_eq!(a.topic.as_str(), "T");
        let cli = parse(&[
            "updateTopic",
            "-n",
            "a:1;b:2",
            "-t",
            "T",
            "-c",
            "C",
            "-r",
            "4",
            "-w",
            "2",
            "-p",
            "4",
        ])
        .unwrap();
        assert_eq!(cli.namesrv, "a:1;b:2");
        let Command::UpdateTopic(a) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!((a.read_queues, a.write_queues, a.perm), (4, 2, 4));
        assert_eq!(a.cluster.map(|c| c.to_string()).as_deref(), Some("C"));
        assert!(a.broker_addr.is_none());

        let cli = parse(&["updateTopic", "-t", "T", "-b", "127.0.0.1:10911", "-w", "4"]).unwrap();
        let Command::UpdateTopic(a) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(a.broker_addr.as_deref(), Some("127.0.0.1:10911"));
        assert!(a.cluster.is_none());
        assert!(
            parse(&["updateTopic", "-t", "T", "-c", "C", "-b", "127.0.0.1:1"]).is_err(),
            "one of -c and -b"
        );
    }

    #[test]
    fn invalid_input_is_refused_by_the_parser() {
        assert!(
            parse(&["updateTopic", "-t", "T"]).is_err(),
            "cluster or broker required"
        );
        assert!(parse(&["updateTopic", "-t", "../x", "-c", "C"]).is_err());
        assert!(parse(&["updateTopic", "-t", "T", "-c", "C", "-r", "many"]).is_err());
        assert!(parse(&["sendMessage", "-t", "T"]).is_err(), "needs a body");
        assert!(
            parse(&["sendMessage", "-t", "T", "-p", "x", "--body-file", "f"]).is_err(),
            "one body only"
        );
        assert!(parse(&["nosuchCommand"]).is_err());
        assert!(
            parse(&["updatetopic", "-t", "T", "-c", "C"]).is_err(),
            "names are exact"
        );
    }

    #[test]
    fn send_and_consume_flags() {
        let cli = parse(&[
            "sendMessage",
            "-t",
            "T",
            "-p",
            "hello",
            "-k",
            "k1 k2",
            "--tags",
            "TagA",
        ])
        .unwrap();
        let Command::SendMessage(a) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(a.body.as_deref(), Some("hello"));
        assert_eq!(a.keys.as_deref(), Some("k1 k2"));
        assert_eq!(a.tags.as_deref(), Some("TagA"));

        let cli = parse(&[
            "consumeMessage",
            "-t",
            "T",
            "-g",
            "G",
            "--from-beginning",
            "--count",
            "5",
            "--json",
        ])
        .unwrap();
        let Command::ConsumeMessage(a) = cli.command else {
            panic!("wrong command")
        };
        assert!(a.from_beginning && a.json);
        assert_eq!(a.count, Some(5));
        assert_eq!(a.timeout_ms, None);
        assert!(
            parse(&["consumeMessage", "-t", "T"]).is_err(),
            "group required"
        );
    }

    #[test]
    fn namesrv_from_env_or_default() {
        // The env var is read only when -n is absent; both paths go through
        // the same argument, so checking the default suffices here.
        if std::env::var_os("NAMESRV_ADDR").is_none() {
            let cli = parse(&["topicList"]).unwrap();
            assert_eq!(cli.namesrv, "127.0.0.1:9876");
        }
        let cli = parse(&["clusterList", "-n", "x:9"]).unwrap();
        assert_eq!(cli.namesrv, "x:9");
        assert!(matches!(
            parse(&["consumerProgress", "-g", "G", "-t", "T"])
                .unwrap()
                .command,
            Command::ConsumerProgress(_)
        ));
    }
}
