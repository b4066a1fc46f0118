//! FerroMQ's command-line tools. `mqadmin` parses its command line into
//! [`cli::Cli`], and [`run`] hands the chosen command a [`ferromq_client`]
//! client and the output stream; each command lives in its own file under
//! [`admin`] and only formats what the client returns.

pub mod admin;
pub mod cli;
mod format;

use std::io::Write;

use anyhow::Context;
use ferromq_client::{ClientConfig, MqClient};

use crate::cli::{Cli, Command};

/// Runs one `mqadmin` command, writing its output to `out`.
///
/// # Errors
/// Whatever the command ran into, with context for the user.
pub async fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    let config = ClientConfig::builder()
        .namesrv_addr(&cli.namesrv)
        .build()
        .context("bad -n / NAMESRV_ADDR")?;
    let client = MqClient::new(config);
    let result = match cli.command {
        Command::UpdateTopic(a) => admin::update_topic::run(a, &client, out).await,
        Command::DeleteTopic(a) => admin::delete_topic::run(a, &client, out).await,
        Command::TopicList => admin::topic_list::run(&client, out).await,
        Command::TopicRoute(a) => admin::topic_route::run(a, &client, out).await,
        Command::TopicStatus(a) => admin::topic_status::run(a, &client, out).await,
        Command::ClusterList => admin::cluster_list::run(&client, out).await,
        Command::SendMessage(a) => admin::send_message::run(a, &client, out).await,
        Command::ConsumeMessage(a) => admin::consume_message::run(a, &client, out).await,
        Command::ConsumerProgress(a) => admin::consumer_progress::run(a, &client, out).await,
        Command::Other(c) => c.run(&client, out).await,
    };
    client.shutdown();
    result
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    async fn run_args(args: &[&str]) -> (anyhow::Result<()>, String) {
        let cli = Cli::try_parse_from(std::iter::once("mqadmin").chain(args.iter().copied()))
            .expect("valid command line");
        let mut out = Vec::new();
        let r = run(cli, &mut out).await;
        (r, String::from_utf8_lossy(&out).into_owned())
    }

    #[tokio::test]
    async fn errors_are_one_line_and_name_the_cause() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let addr = format!("127.0.0.1:{port}");
        let (r, out) = run_args(&["topicList", "-n", &addr]).await;
        let e = format!("{:#}", r.expect_err("no NameServer"));
        assert!(e.contains("no NameServer reachable"), "{e}");
        assert!(!e.contains('\n'));
        assert!(out.is_empty());

        let (r, _) = run_args(&["topicList", "-n", "nonsense"]).await;
        let e = format!("{:#}", r.expect_err("bad address"));
        assert!(e.contains("not host:port"), "{e}");
    }
}
