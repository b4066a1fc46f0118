//! `mqbench`'s command line. Parsing is pure so tests drive it with
//! `Cli::try_parse_from`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ferromq_client::{ClusterName, TopicName, DEFAULT_NAMESRV_ADDR};

/// FerroMQ load generator: produce, consume, or both with end-to-end latency.
#[derive(Parser, Debug)]
#[command(name = "mqbench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send messages (as fast as the window allows, or at --rate); report
    /// throughput and send latency.
    Produce(ProduceArgs),
    /// Read a topic with pull consumers; report throughput and message age
    /// (consume time − store time).
    Consume(ConsumeArgs),
    /// A producer at a fixed rate and a consumer in one process; report
    /// producer-to-consumer latency.
    E2e(E2eArgs),
}

/// Flags every kind of run takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// NameServer address(es), `host:port[;host:port]`
    #[arg(short = 'n', long = "namesrv-addr", env = "NAMESRV_ADDR", default_value = DEFAULT_NAMESRV_ADDR)]
    pub namesrv: String,
    /// Topic to use
    #[arg(short = 't', long)]
    pub topic: TopicName,
    #[command(flatten)]
    pub stop: Stop,
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Create the topic with this many read and write queues on --cluster
    /// if it does not exist (else a missing topic is an error)
    #[arg(long, value_name = "QUEUES", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub create_topic: Option<u32>,
    /// Cluster used by --create-topic
    #[arg(long, default_value = "DefaultCluster")]
    pub cluster: ClusterName,
}

/// When a run ends: exactly one of the two.
#[derive(Args, Debug, Clone, Copy)]
#[group(required = true, multiple = false)]
pub struct Stop {
    /// Stop after this many (measured) messages
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this many seconds of measurement
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Message body size in bytes
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub size: u32,
    /// Concurrent producers
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub producers: u32,
    /// Sends in flight per producer
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub inflight: u32,
    /// Messages per send (one request, one queue)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch: u32,
    /// Total target rate in messages per second (all producers); latency is
    /// then measured from each send's scheduled time
    #[arg(long, value_name = "MSGS_PER_S", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Seconds of sending before measurement starts (not counted)
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = parse_secs_or_zero)]
    pub warmup: Duration,
    /// All producers share one producer and its client (one connection per
    /// broker), as the threads of one process would, instead of one each
    #[arg(long)]
    pub shared_client: bool,
    /// Turn off the producer's automatic batching of concurrent single
    /// sends (`--batch 1`), so every send is a request of its own
    #[arg(long)]
    pub no_auto_batch: bool,
    /// Requests per topic on the wire before the producer batches
    /// concurrent sends [default: the producer's default]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub auto_batch_in_flight: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Consumer group; with several consumers, consumer i uses GROUP-i
    #[arg(short = 'g', long)]
    pub group: String,
    /// Independent consumers. A pull consumer reads every queue (no
    /// rebalancing yet), so each gets its own group and reads everything.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub consumers: u32,
    /// Start at the oldest message on queues the group never committed on
    /// (default: only new messages)
    #[arg(long)]
    pub from_beginning: bool,
    /// Messages per pull request (at most 1024)
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pull_batch: u32,
    /// With --count, give up after this many seconds without a message
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub idle_timeout: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct E2eArgs {
    #[command(flatten)]
    pub common: Common,
    /// Message body size in bytes (at least 24: the body carries a stamp)
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(24..))]
    pub size: u32,
    /// Messages per second
    #[arg(long, value_name = "MSGS_PER_S", default_value = "1000", value_parser = parse_rate)]
    pub rate: f64,
    /// Sends in flight at most (a full window delays sends; the delay shows
    /// as latency)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub inflight: u32,
    /// Seconds of traffic before measurement starts (lets the consumer's
    /// pull tasks settle)
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs_or_zero)]
    pub warmup: Duration,
    /// Consumer group [default: a new one per run]
    #[arg(short = 'g', long)]
    pub group: Option<String>,
    /// Messages per pull request (at most 1024)
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pull_batch: u32,
    /// After the producer finished, wait at most this long for the rest
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub idle_timeout: Duration,
}

/// A flag value mqbench refuses.
#[derive(Debug, thiserror::Error)]
enum BadValue {
    #[error("{0:?} is not a number of seconds")]
    NotSeconds(String),
    #[error("must be above zero")]
    Zero,
    #[error("{0:?} is not a rate")]
    NotRate(String),
    #[error("the rate must be a positive number of messages per second")]
    RateNotPositive,
}

/// Seconds, fractional allowed, above zero.
fn parse_secs(s: &str) -> Result<Duration, BadValue> {
    match parse_secs_or_zero(s)? {
        d if d.is_zero() => Err(BadValue::Zero),
        d => Ok(d),
    }
}

fn parse_secs_or_zero(s: &str) -> Result<Duration, BadValue> {
    s.parse()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| BadValue::NotSeconds(s.to_string()))
}

fn parse_rate(s: &str) -> Result<f64, BadValue> {
    let v: f64 = s.parse().map_err(|_| BadValue::NotRate(s.to_string()))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(BadValue::RateNotPositive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mqbench").chain(args.iter().copied()))
    }

    fn produce(args: &[&str]) -> ProduceArgs {
        match parse(args).unwrap().command {
            Command::Produce(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn produce_defaults_match_the_issue() {
        let a = produce(&["produce", "-n", "h:1", "-t", "T", "--count", "10"]);
        assert_eq!(a.common.namesrv, "h:1");
        assert_eq!(a.common.topic.as_str(), "T");
        assert_eq!(a.common.stop.count, Some(10));
        assert_eq!((a.size, a.producers, a.inflight, a.batch), (1024, 1, 1, 1));
        assert!(a.rate.is_none() && !a.common.json && a.warmup.is_zero());
        assert_eq!(a.common.cluster.as_str(), "DefaultCluster");
    }

    #[test]
    fn produce_takes_every_flag() {
        let a = produce(&[
            "produce",
            "-t",
            "T",
            "--size",
            "100",
            "--producers",
            "8",
            "--inflight",
            "4",
            "--batch",
            "32",
            "--duration",
            "2.5",
            "--rate",
            "5000",
            "--json",
            "--warmup",
            "1",
            "--create-topic",
            "8",
        ]);
        assert_eq!(a.common.stop.duration, Some(Duration::from_millis(2500)));
        assert_eq!((a.size, a.producers, a.inflight, a.batch), (100, 8, 4, 32));
        assert_eq!(a.rate, Some(5000.0));
        assert_eq!(a.common.create_topic, Some(8));
        assert!(a.common.json);
    }

    #[test]
    fn exactly_one_stop_condition() {
        assert!(parse(&["produce", "-t", "T"]).is_err());
        assert!(parse(&["produce", "-t", "T", "--count", "1", "--duration", "1"]).is_err());
        assert!(parse(&["produce", "-t", "T", "--count", "0"]).is_err());
        assert!(parse(&["produce", "-t", "T", "--duration", "0"]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let base = ["produce", "-t", "T", "--count", "1"];
        for extra in [
            ["--rate", "0"],
            ["--rate", "-5"],
            ["--rate", "fast"],
            ["--producers", "0"],
            ["--batch", "0"],
            ["--size", "0"],
            ["--warmup", "-1"],
        ] {
            let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
            assert!(parse(&args).is_err(), "{extra:?}");
        }
        assert!(parse(&["produce", "-t", "bad/name", "--count", "1"]).is_err());
    }

    #[test]
    fn consume_and_e2e_parse() {
        let Command::Consume(c) = parse(&[
            "consume",
            "-t",
            "T",
            "-g",
            "G",
            "--consumers",
            "2",
            "--count",
            "5",
            "--from-beginning",
            "--pull-batch",
            "256",
        ])
        .unwrap()
        .command
        else {
            panic!("not consume")
        };
        assert_eq!((c.group.as_str(), c.consumers, c.pull_batch), ("G", 2, 256));
        assert!(c.from_beginning);
        assert!(
            parse(&["consume", "-t", "T", "--count", "5"]).is_err(),
            "group required"
        );

        let Command::E2e(e) = parse(&["e2e", "-t", "T", "--duration", "3", "--rate", "200"])
            .unwrap()
            .command
        else {
            panic!("not e2e")
        };
        assert_eq!((e.rate, e.size, e.inflight), (200.0, 1024, 64));
        assert_eq!(e.warmup, Duration::from_secs(1));
        assert!(parse(&["e2e", "-t", "T", "--count", "1", "--size", "8"]).is_err());
    }
}
