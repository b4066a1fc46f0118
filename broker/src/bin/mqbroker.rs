//! `mqbroker`: settings in (flags over a config file, declared once in
//! `BrokerConfig`), `ferromq_broker::run` out.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use ferromq_broker::BrokerConfig;
use ferromq_config::Layered;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of the system allocator: the broker allocates and
/// frees a buffer or two per request from many threads (docs/DECISIONS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing::info;

/// FerroMQ broker.
#[derive(Parser, Debug)]
#[command(name = "mqbroker", version, about)]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0:10911")]
    listen: String,
    /// TOML file with the same settings, keys as the flags with `_` for `-`
    /// (flags and NAMESRV_ADDR win)
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    /// Also run a NameServer in this process
    #[arg(long)]
    standalone: bool,
    /// NameServer listen address in standalone mode
    #[arg(long, default_value = "0.0.0.0:9876")]
    namesrv_listen: String,
    #[command(flatten)]
    broker: BrokerConfig,
}

fn main() -> Result<()> {
    // Logs go to stderr so tools can parse stdout; colour only on a terminal.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match ferromq_config::parse::<Args, _>(std::env::args_os(), "config") {
        Ok(args) => args,
        Err(ferromq_config::ConfigError::Args(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(start(args))
}

async fn start(layered: Layered<Args>) -> Result<()> {
    let standalone = layered.value.standalone;
    // Standalone, a broker creates topics on first send unless told not to.
    let auto_create_default = layered.is_default("auto_create_topic");
    let namesrv_default = layered.is_default("namesrv_addrs");
    let args = layered.value;
    let mut config = args.broker;
    if standalone && auto_create_default {
        config.auto_create_topic = true;
    }
    if config.ha.ha_listen.is_none() {
        config.ha.ha_listen = ferromq_broker::default_ha_listen(&args.listen);
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));

    // The embedded NameServer stops only after the broker has unregistered.
    let ns_shutdown = CancellationToken::new();
    let mut namesrv_task = None;
    if standalone {
        let ns_listener = TcpListener::bind(&args.namesrv_listen)
            .await
            .with_context(|| format!("binding the NameServer to {}", args.namesrv_listen))?;
        let ns_addr = ns_listener.local_addr()?;
        info!(listen = %ns_addr, "standalone: NameServer listening");
        if namesrv_default {
            config.namesrv_addrs = vec![format!("127.0.0.1:{}", ns_addr.port())];
        }
        let token = ns_shutdown.clone();
        namesrv_task = Some(tokio::spawn(async move {
            ferromq_nameserver::run(
                ferromq_nameserver::NameServerConfig::default(),
                ns_listener,
                token,
            )
            .await
        }));
    }

    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding the broker to {}", args.listen))?;
    let result = ferromq_broker::run(config, listener, shutdown.clone()).await;
    ns_shutdown.cancel();
    if let Some(t) = namesrv_task {
        let _ = t.await;
    }
    result.context("broker failed")
}

async fn wait_for_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                token.cancel();
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => info!("Ctrl-C received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    token.cancel();
}
