//! `mqnamesrv`: runs a FerroMQ NameServer until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ferromq_controller::ControllerConfig;
use ferromq_nameserver::NameServerConfig;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;
use tracing_subscriber::EnvFilter;

/// FerroMQ NameServer: keeps the route table brokers register into.
#[derive(Debug, Parser)]
#[command(name = "mqnamesrv", version, about)]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0:9876")]
    listen: String,
    /// TOML file with the same settings, keys as the flags with `_` for `-`
    /// (flags win)
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    namesrv: NameServerConfig,
    /// Also run a controller node in this process (RocketMQ's
    /// enableControllerInNamesrv), on its own port; needs --controller-id
    /// and --controller-peers
    #[arg(long = "controller")]
    controller: bool,
    #[command(flatten)]
    controller_config: ControllerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    // Logs go to stderr, without colour codes unless a person is watching,
    // so supervisors and tests can read the `listening on` line.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let args = match ferromq_config::parse::<Args, _>(std::env::args_os(), "config") {
        Ok(layered) => layered.value,
        Err(ferromq_config::ConfigError::Args(e)) => e.exit(),
        Err(e) => anyhow::bail!(e),
    };
    let config = args.namesrv;

    // Handlers are installed before the listening line is logged, so a
    // supervisor that signals right after it is not met by the default
    // action (immediate exit).
    let term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(term, int, shutdown.clone()));
    let namesrv = ferromq_nameserver::run(config, listener, shutdown.clone());
    let result = if args.controller {
        let controller = async {
            let r = ferromq_controller::run(args.controller_config, shutdown.clone()).await;
            // A controller that cannot run takes the process down with it.
            shutdown.cancel();
            r
        };
        let (n, c) = tokio::join!(namesrv, controller);
        c.context("controller failed")?;
        n
    } else {
        namesrv.await
    };
    signals.abort();
    result.context("NameServer failed")
}

async fn cancel_on_signal(mut term: Signal, mut int: Signal, shutdown: CancellationToken) {
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = int.recv() => info!("interrupted; shutting down"),
    }
    shutdown.cancel();
}
