//! One file per `mqadmin` command: its flags (`Args`) and `run`, which
//! calls the client and formats the answer.

pub mod broker_status;
pub mod clean_broker_data;
pub mod cluster_list;
pub mod consume_message;
pub mod consumer_connection;
pub mod consumer_progress;
pub mod controller_args;
pub mod delete_sub_group;
pub mod delete_topic;
pub mod elect_master;
pub mod get_broker_epoch;
pub mod get_controller_metadata;
pub mod get_sync_state_set;
pub mod ha_status;
mod human;
pub mod message_view;
pub mod promote_slave;
pub mod query_msg_by_id;
pub mod query_msg_by_key;
pub mod query_msg_by_offset;
pub mod query_msg_by_unique_key;
pub mod reset_offset;
pub mod send_message;
pub mod topic_cluster_list;
pub mod topic_list;
pub mod topic_route;
pub mod topic_status;
pub mod update_sub_group;
pub mod update_topic;
pub mod write_perm;

/// Commands that run themselves through [`AdminCommand::run`]: the message
/// lookups and the broker operations. The command line flattens them into
/// its own list.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// queryMsgById, queryMsgByKey, queryMsgByOffset, queryMsgByUniqueKey.
    #[command(flatten)]
    Query(QueryCommand),
    /// brokerStatus, wipeWritePerm, addWritePerm, topicClusterList.
    #[command(flatten)]
    Broker(BrokerCommand),
    /// updateSubGroup, deleteSubGroup, consumerConnection, resetOffsetByTime.
    #[command(flatten)]
    Group(GroupCommand),
    /// getControllerMetaData, getSyncStateSet, getBrokerEpoch, electMaster,
    /// cleanBrokerData.
    #[command(flatten)]
    Controller(ControllerCommand),
}

impl AdminCommand {
    /// Runs the command.
    ///
    /// # Errors
    /// Whatever the command ran into.
    pub async fn run(
        self,
        client: &ferromq_client::MqClient,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        match self {
            Self::Query(q) => q.run(client, out).await,
            Self::Broker(b) => b.run(client, out).await,
            Self::Group(g) => g.run(client, out).await,
            Self::Controller(c) => c.run(out).await,
        }
    }
}

/// Commands to the controller group (`-a`, or `FERROMQ_CONTROLLER_ADDR`),
/// which keeps each broker group's master, epoch and in-sync set.
#[derive(Debug, clap::Subcommand)]
pub enum ControllerCommand {
    /// Each controller node's view: its id, the leader, term, last applied
    /// index.
    #[command(name = "getControllerMetaData")]
    GetControllerMetaData(get_controller_metadata::Args),
    /// A broker group's master, epoch, in-sync set and replicas, from the
    /// controller.
    #[command(name = "getSyncStateSet")]
    GetSyncStateSet(get_sync_state_set::Args),
    /// A broker group's epochs: master, when and why elected.
    #[command(name = "getBrokerEpoch")]
    GetBrokerEpoch(get_broker_epoch::Args),
    /// Make a live in-sync replica its group's master (new epoch).
    #[command(name = "electMaster")]
    ElectMaster(elect_master::Args),
    /// Make the controller forget retired replicas, or a whole group.
    #[command(name = "cleanBrokerData")]
    CleanBrokerData(clean_broker_data::Args),
}

impl ControllerCommand {
    /// Runs the command.
    ///
    /// # Errors
    /// Whatever the command ran into.
    pub async fn run(self, out: &mut impl std::io::Write) -> anyhow::Result<()> {
        match self {
            Self::GetControllerMetaData(a) => get_controller_metadata::run(a, out).await,
            Self::GetSyncStateSet(a) => get_sync_state_set::run(a, out).await,
            Self::GetBrokerEpoch(a) => get_broker_epoch::run(a, out).await,
            Self::ElectMaster(a) => elect_master::run(a, out).await,
            Self::CleanBrokerData(a) => clean_broker_data::run(a, out).await,
        }
    }
}

/// Consumer-group commands.
#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// Create or update a subscription group (retry limit, broadcasting)
    /// on a cluster's masters (-c, default DefaultCluster) or one broker (-b).
    #[command(name = "updateSubGroup")]
    UpdateSubGroup(update_sub_group::Args),
    /// Delete a subscription group and its offsets.
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup(delete_sub_group::Args),
    /// Show a consumer group's members and subscriptions.
    #[command(name = "consumerConnection")]
    ConsumerConnection(consumer_connection::Args),
    /// Move a consumer group's offsets on a topic to a point in time;
    /// running members continue from there.
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime(reset_offset::Args),
}

impl GroupCommand {
    /// Runs the command.
    ///
    /// # Errors
    /// Whatever the command ran into.
    pub async fn run(
        self,
        client: &ferromq_client::MqClient,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        match self {
            Self::UpdateSubGroup(a) => update_sub_group::run(a, client, out).await,
            Self::DeleteSubGroup(a) => delete_sub_group::run(a, client, out).await,
            Self::ConsumerConnection(a) => consumer_connection::run(a, client, out).await,
            Self::ResetOffsetByTime(a) => reset_offset::run(a, client, out).await,
        }
    }
}

/// Commands about one broker, or which clusters hold a topic.
#[derive(Debug, clap::Subcommand)]
pub enum BrokerCommand {
    /// Show every runtime figure of one broker (`key : value`, sorted).
    #[command(name = "brokerStatus")]
    BrokerStatus(broker_status::Args),
    /// Stop producers from choosing a broker (reads go on), e.g. before
    /// maintenance.
    #[command(name = "wipeWritePerm")]
    WipeWritePerm(write_perm::Args),
    /// Let producers choose a broker again after wipeWritePerm.
    #[command(name = "addWritePerm")]
    AddWritePerm(write_perm::Args),
    /// List the clusters a topic's brokers belong to.
    #[command(name = "topicClusterList")]
    TopicClusterList(topic_cluster_list::Args),
    /// A master's replication: each slave's offset, lag in bytes and time,
    /// in sync or not.
    #[command(name = "haStatus")]
    HaStatus(ha_status::Args),
    /// Make a slave its group's master in a new epoch: fence the master,
    /// let the slave catch up, promote it, demote the old master.
    #[command(name = "promoteSlave")]
    PromoteSlave(promote_slave::Args),
}

impl BrokerCommand {
    /// Runs the command.
    ///
    /// # Errors
    /// Whatever the command ran into.
    pub async fn run(
        self,
        client: &ferromq_client::MqClient,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        match self {
            Self::BrokerStatus(a) => broker_status::run(a, client, out).await,
            Self::WipeWritePerm(a) => write_perm::wipe(a, client, out).await,
            Self::AddWritePerm(a) => write_perm::add(a, client, out).await,
            Self::TopicClusterList(a) => topic_cluster_list::run(a, client, out).await,
            Self::HaStatus(a) => ha_status::run(a, client, out).await,
            Self::PromoteSlave(a) => promote_slave::run(a, client, out).await,
        }
    }
}

/// The message lookup commands (`queryMsgBy*`), kept in one enum that the
/// command line flattens into its own.
#[derive(Debug, clap::Subcommand)]
pub enum QueryCommand {
    /// Show the message with an offset message id.
    #[command(name = "queryMsgById")]
    QueryMsgById(query_msg_by_id::Args),
    /// Show the messages of a topic with a key, newest first.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey(query_msg_by_key::Args),
    /// Show the message at a queue offset of one broker.
    #[command(name = "queryMsgByOffset")]
    QueryMsgByOffset(query_msg_by_offset::Args),
    /// Show the message of a topic with a producer unique id.
    #[command(name = "queryMsgByUniqueKey")]
    QueryMsgByUniqueKey(query_msg_by_unique_key::Args),
}

impl QueryCommand {
    /// Runs the command.
    ///
    /// # Errors
    /// Whatever the command ran into.
    pub async fn run(
        self,
        client: &ferromq_client::MqClient,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        match self {
            Self::QueryMsgById(a) => query_msg_by_id::run(a, client, out).await,
            Self::QueryMsgByKey(a) => query_msg_by_key::run(a, client, out).await,
            Self::QueryMsgByOffset(a) => query_msg_by_offset::run(a, client, out).await,
            Self::QueryMsgByUniqueKey(a) => query_msg_by_unique_key::run(a, client, out).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse_admin(args: &[&str]) -> Result<AdminCommand, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("mqadmin").chain(args.iter().copied()))?;
        match cli.command {
            Command::Other(c) => Ok(c),
            other => panic!("not an admin command: {other:?}"),
        }
    }

    fn parse(args: &[&str]) -> Result<QueryCommand, clap::Error> {
        match parse_admin(args)? {
            AdminCommand::Query(q) => Ok(q),
            other => panic!("not a query command: {other:?}"),
        }
    }

    fn parse_broker(args: &[&str]) -> Result<BrokerCommand, clap::Error> {
        match parse_admin(args)? {
            AdminCommand::Broker(b) => Ok(b),
            other => panic!("not a broker command: {other:?}"),
        }
    }

    fn parse_controller(args: &[&str]) -> Result<ControllerCommand, clap::Error> {
        match parse_admin(args)? {
            AdminCommand::Controller(c) => Ok(c),
            other => panic!("not a controller command: {other:?}"),
        }
    }

    #[test]
    fn controller_commands_parse_with_rocketmq_flags() {
        let ControllerCommand::GetControllerMetaData(a) =
            parse_controller(&["getControllerMetaData", "-a", "a:9878;b:9878"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.controller.addrs.0, ["a:9878", "b:9878"]);
        assert_eq!((a.controller.timeout_ms, a.controller.json), (3000, false));
        assert!(parse_admin(&["getControllerMetaData", "-a", "nonsense"]).is_err());
        if std::env::var_os("FERROMQ_CONTROLLER_ADDR").is_none() {
            assert!(
                parse_admin(&["getSyncStateSet", "-b", "broker-a"]).is_err(),
                "address required"
            );
        }

        let ControllerCommand::GetSyncStateSet(a) = parse_controller(&[
            "getSyncStateSet",
            "-a",
            "a:1",
            "-b",
            "broker-a",
            "--json",
            "--timeout-ms",
            "500",
        ])
        .unwrap() else {
            panic!("wrong command")
        };
        assert_eq!(a.broker.as_str(), "broker-a");
        assert_eq!((a.controller.timeout_ms, a.controller.json), (500, true));
        assert!(parse_admin(&["getSyncStateSet", "-a", "a:1", "-b", "../x"]).is_err());

        let ControllerCommand::GetBrokerEpoch(a) =
            parse_controller(&["getBrokerEpoch", "-a", "a:1", "--brokerName", "b"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.broker.as_str(), "b");

        let ControllerCommand::ElectMaster(a) =
            parse_controller(&["electMaster", "-a", "a:1", "-b", "b", "-i", "2"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.replica_id, 2);
        assert!(parse_admin(&["electMaster", "-a", "a:1", "-b", "b"]).is_err());
        assert!(parse_admin(&["electMaster", "-a", "a:1", "-b", "b", "-i", "0"]).is_err());

        let ControllerCommand::CleanBrokerData(a) =
            parse_controller(&["cleanBrokerData", "-a", "a:1", "-b", "b", "-i", "2;3"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.replica_ids, [2, 3]);
        let ControllerCommand::CleanBrokerData(a) =
            parse_controller(&["cleanBrokerData", "-a", "a:1", "-b", "b"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert!(a.replica_ids.is_empty(), "no -i: the whole group");
        assert!(parse_admin(&["cleanBrokerData", "-a", "a:1", "-b", "b", "-i", "2;x"]).is_err());
    }

    #[test]
    fn broker_commands_parse_with_rocketmq_flags() {
        let BrokerCommand::BrokerStatus(a) =
            parse_broker(&["brokerStatus", "-b", "127.0.0.1:10911"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.broker_addr, "127.0.0.1:10911");
        assert!(parse_admin(&["brokerStatus"]).is_err(), "address required");

        let BrokerCommand::WipeWritePerm(a) =
            parse_broker(&["wipeWritePerm", "-b", "broker-a"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.broker.as_str(), "broker-a");
        let BrokerCommand::AddWritePerm(a) =
            parse_broker(&["addWritePerm", "--brokerName", "broker-b"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.broker.as_str(), "broker-b");
        assert!(parse_admin(&["wipeWritePerm", "-b", "../x"]).is_err());

        let BrokerCommand::TopicClusterList(a) =
            parse_broker(&["topicClusterList", "-t", "T"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.topic.as_str(), "T");
    }

    #[test]
    fn query_commands_parse_with_rocketmq_flags() {
        let QueryCommand::QueryMsgById(a) =
            parse(&["queryMsgById", "-i", "7F00000100002A9F0000000000001234"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.id.offset().get(), 0x1234);
        assert!(!a.body.full);
        assert!(parse(&["queryMsgById", "-i", "nothex"]).is_err());

        let QueryCommand::QueryMsgByKey(a) =
            parse(&["queryMsgByKey", "-t", "T", "-k", "order-1", "--full"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(
            (a.key.as_str(), a.max, a.begin_ms, a.end_ms, a.body.full),
            ("order-1", 32, 0, u64::MAX, true)
        );
        assert!(
            parse(&["queryMsgByKey", "-t", "T"]).is_err(),
            "key required"
        );

        let QueryCommand::QueryMsgByOffset(a) = parse(&[
            "queryMsgByOffset",
            "-b",
            "broker-a",
            "-t",
            "T",
            "-q",
            "3",
            "-o",
            "17",
        ])
        .unwrap() else {
            panic!("wrong command")
        };
        assert_eq!(
            (a.broker.as_str(), a.queue_id, a.offset),
            ("broker-a", 3, 17)
        );
        assert!(parse(&[
            "queryMsgByOffset",
            "-b",
            "../x",
            "-t",
            "T",
            "-q",
            "0",
            "-o",
            "0"
        ])
        .is_err());

        let QueryCommand::QueryMsgByUniqueKey(a) =
            parse(&["queryMsgByUniqueKey", "-t", "T", "-i", "ABC"]).unwrap()
        else {
            panic!("wrong command")
        };
        assert_eq!(a.unique_id, "ABC");
    }
}
