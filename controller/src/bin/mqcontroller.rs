//! `mqcontroller`: runs one controller node until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ferromq_controller::ControllerConfig;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// FerroMQ controller: elects a new master of a broker group when its
/// master goes silent.
#[derive(Debug, Parser)]
#[command(name = "mqcontroller", version, about)]
struct Args {
    /// TOML file with the same settings, keys as the flags with `_` for `-`
    /// (flags win)
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    controller: ControllerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
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
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received; shutting down"),
            _ = int.recv() => info!("interrupted; shutting down"),
        }
        stop.cancel();
    });
    ferromq_controller::run(args.controller, shutdown)
        .await
        .context("controller failed")
}
