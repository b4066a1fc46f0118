//! One file per `mqadmin` command: its flags (`Args`) and `run`, which
//! calls the client and formats the answer.

pub mod cluster_list;
pub mod consume_message;
pub mod consumer_progress;
pub mod delete_topic;
pub mod message_view;
pub mod query_msg_by_id;
pub mod query_msg_by_key;
pub mod query_msg_by_offset;
pub mod query_msg_by_unique_key;
pub mod send_message;
pub mod topic_list;
pub mod topic_route;
pub mod topic_status;
pub mod update_topic;

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

    fn parse(args: &[&str]) -> Result<QueryCommand, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("mqadmin").chain(args.iter().copied()))?;
        match cli.command {
            Command::Query(q) => Ok(q),
            other => panic!("not a query command: {other:?}"),
        }
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
