//! `mqbench`, FerroMQ's load generator.
//!
//! # Kinds of run
//!
//! * `produce` ([`produce`]): P producer tasks, each with a window of K sends
//!   of B messages in flight; unthrottled, or on a fixed schedule under
//!   `--rate` (latency then counts from the scheduled time, so stalls are
//!   not hidden: no coordinated omission).
//! * `consume` ([`consume`]): C pull consumers; latency is message age
//!   (poll time − store time).
//! * `e2e` ([`e2e`]): a scheduled producer and a consumer in one process;
//!   latency is poll time − scheduled send time, both from one `Instant`.
//!
//! # How data flows
//!
//! ```text
//! args ─▶ topic::ensure ─▶ workers (each its own Tally: HDR histogram and
//!   counters; Live atomics feed the progress bar) ─▶ Tally::merge ─▶ Report
//!   ─▶ text or one JSON object on stdout
//! ```
//!
//! Errors are counted, never retried beyond what the client does itself.

pub mod args;
mod consume;
mod e2e;
mod payload;
mod produce;
mod progress;
pub mod report;
mod schedule;
mod tally;
mod topic;

use anyhow::Context;
use ferromq_client::{ClientConfig, MqClient};

use self::args::{Cli, Command};
use self::report::Report;

/// Runs one benchmark and returns its report.
///
/// # Errors
/// Bad NameServer addresses, a missing topic (without `--create-topic`),
/// failures to set up producers or consumers. Failures *during* the run are
/// counted in the report instead.
pub async fn run(cli: Cli) -> anyhow::Result<Report> {
    let common = match &cli.command {
        Command::Produce(a) => &a.common,
        Command::Consume(a) => &a.common,
        Command::E2e(a) => &a.common,
    };
    let config = ClientConfig::builder()
        .namesrv_addr(&common.namesrv)
        .build()
        .context("bad -n / NAMESRV_ADDR")?;
    let client = MqClient::new(config.clone());
    topic::ensure(&client, common).await?;
    let report = match cli.command {
        Command::Produce(a) => produce::run(a, config, client.clone()).await,
        Command::Consume(a) => consume::run(a, config).await,
        Command::E2e(a) => e2e::run(a, config).await,
    };
    client.shutdown();
    report
}
