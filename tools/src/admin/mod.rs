//! One file per `mqadmin` command: its flags (`Args`) and `run`, which
//! calls the client and formats the answer.

pub mod cluster_list;
pub mod consume_message;
pub mod consumer_progress;
pub mod delete_topic;
pub mod send_message;
pub mod topic_list;
pub mod topic_route;
pub mod topic_status;
pub mod update_topic;
