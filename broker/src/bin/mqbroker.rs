//! `mqbroker`: flags and config file in, `ferromq_broker::run` out.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ferromq_broker::config::{split_addrs, FileConfig};
use ferromq_broker::{BrokerConfig, FlushMode};
use ferromq_protocol::{BrokerName, ClusterName};
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
    /// Address to listen on [default: 0.0.0.0:10911]
    #[arg(long)]
    listen: Option<String>,
    /// NameServer addresses, `;`-separated [default: 127.0.0.1:9876]
    #[arg(short = 'n', long, env = "NAMESRV_ADDR")]
    namesrv_addr: Option<String>,
    /// Address clients should use to reach this broker [default: the listen address]
    #[arg(long)]
    advertise_addr: Option<String>,
    /// Store directory [default: ./data]
    #[arg(long)]
    store_dir: Option<PathBuf>,
    /// Broker name [default: broker-a]
    #[arg(long)]
    broker_name: Option<BrokerName>,
    /// Cluster name [default: DefaultCluster]
    #[arg(long)]
    cluster: Option<ClusterName>,
    /// Broker id; 0 is the master [default: 0]
    #[arg(long)]
    broker_id: Option<u64>,
    /// Flush mode: sync (acknowledge after fsync) or async [default: sync]
    #[arg(long)]
    flush: Option<FlushMode>,
    /// TOML file with the same settings (flags win)
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    /// Also run a NameServer in this process
    #[arg(long)]
    standalone: bool,
    /// NameServer listen address in standalone mode [default: 0.0.0.0:9876]
    #[arg(long)]
    namesrv_listen: Option<String>,
    /// Commit-log segment size in bytes [default: 1 GiB]
    #[arg(long)]
    segment_size: Option<u64>,
    /// Largest message body in bytes [default: 4 MiB]
    #[arg(long)]
    max_message_size: Option<usize>,
    /// NameServer registration period in milliseconds [default: 30000]
    #[arg(long)]
    register_interval_ms: Option<u64>,
    /// Hours a commit-log segment is kept [default: 72]
    #[arg(long)]
    file_reserved_hours: Option<u64>,
    /// Hour of the day (UTC) when expired segments are deleted [default: 4]
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..24))]
    delete_when_hour: Option<u8>,
    /// Largest total size of one batch send in bytes [default: 4 MiB]
    #[arg(long)]
    max_batch_bytes: Option<usize>,
    /// Create topics on first send [default: true with --standalone, else false]
    #[arg(long)]
    auto_create_topic: Option<bool>,
    /// Write new commit-log segments full of zeroes before use, so an
    /// fdatasync never has file-system metadata to commit
    /// [default: true with --flush sync, else false]
    #[arg(long)]
    prefill_segments: Option<bool>,
    /// Write and read the commit log with O_DIRECT through the broker's own
    /// block cache instead of the page cache (used only where the file
    /// system allows it) [default: true]
    #[arg(long)]
    direct_io: Option<bool>,
    /// Keep up to two segments that retention deletes and reuse them as
    /// new ones: no discard stalls on delete, no fresh blocks to allocate
    /// (up to two segments of disk stay allocated) [default: true]
    #[arg(long)]
    recycle_segments: Option<bool>,
    /// Memory for the commit log's block cache in bytes [default: 64 MiB]
    #[arg(long)]
    log_cache_size: Option<u64>,
    /// Delay levels of scheduled messages and retries, units ms/s/m/h/d
    /// [default: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"]
    #[arg(long)]
    message_delay_levels: Option<String>,
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
    let args = Args::parse();
    let file = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            FileConfig::parse(&text).with_context(|| format!("parsing {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(start(args, file))
}

async fn start(args: Args, file: FileConfig) -> Result<()> {
    let standalone = args.standalone || file.standalone.unwrap_or(false);
    let store_dir = args
        .store_dir
        .or(file.store_dir)
        .unwrap_or_else(|| PathBuf::from("./data"));
    let mut config = BrokerConfig::new(store_dir);
    if let Some(v) = args.broker_name.or(file.broker_name) {
        config.broker_name = v;
    }
    if let Some(v) = args.cluster.or(file.cluster) {
        config.cluster = v;
    }
    if let Some(v) = args.broker_id.or(file.broker_id) {
        config.broker_id = v;
    }
    if let Some(v) = args.flush.or(file.flush) {
        config.flush = v;
    }
    if let Some(v) = args.segment_size.or(file.segment_size) {
        config.segment_size = v;
    }
    if let Some(v) = args.max_message_size.or(file.max_message_size) {
        config.max_message_size = v;
    }
    if let Some(ms) = file.sync_flush_timeout_ms {
        config.sync_flush_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = args.register_interval_ms.or(file.register_interval_ms) {
        config.register_interval = Duration::from_millis(ms);
    }
    config.advertise_addr = args.advertise_addr.or(file.advertise_addr);
    if let Some(v) = args.max_batch_bytes.or(file.max_batch_bytes) {
        config.max_batch_bytes = v;
    }
    if let Some(ms) = file.async_flush_interval_ms {
        config.async_flush_interval = Duration::from_millis(ms);
    }
    if let Some(h) = args.file_reserved_hours.or(file.file_reserved_hours) {
        config.file_reserved_time = Duration::from_secs(h * 3600);
    }
    if let Some(h) = args.delete_when_hour.or(file.delete_when_hour) {
        config.delete_when_hour = h;
    }
    if let Some(r) = file.disk_clean_ratio {
        config.disk_clean_ratio = r;
    }
    if let Some(r) = file.disk_force_clean_ratio {
        config.disk_force_clean_ratio = r;
    }
    if let Some(r) = file.disk_reject_ratio {
        config.disk_reject_ratio = r;
    }
    if let Some(v) = args.message_delay_levels.or(file.message_delay_levels) {
        config.message_delay_levels = v;
    }
    if let Some(ms) = file.client_channel_expiry_ms {
        config.client_channel_expiry = Duration::from_millis(ms);
    }
    if let Some(ms) = file.queue_lock_expiry_ms {
        config.queue_lock_expiry = Duration::from_millis(ms);
    }
    config.prefill_segments = args.prefill_segments.or(file.prefill_segments);
    if let Some(r) = args.recycle_segments.or(file.recycle_segments) {
        config.recycle_segments = r;
    }
    if let Some(d) = args.direct_io.or(file.direct_io) {
        config.direct_io = d;
    }
    if let Some(n) = args.log_cache_size.or(file.log_cache_size) {
        config.log_cache_size = n;
    }
    config.auto_create_topic = args
        .auto_create_topic
        .or(file.auto_create_topic)
        .unwrap_or(standalone);
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "0.0.0.0:10911".to_string());
    let namesrv = args.namesrv_addr.or(file.namesrv_addr);

    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));

    // The embedded NameServer stops only after the broker has unregistered.
    let ns_shutdown = CancellationToken::new();
    let mut namesrv_task = None;
    if standalone {
        let ns_listen = args
            .namesrv_listen
            .or(file.namesrv_listen)
            .unwrap_or_else(|| "0.0.0.0:9876".to_string());
        let ns_listener = TcpListener::bind(&ns_listen)
            .await
            .with_context(|| format!("binding the NameServer to {ns_listen}"))?;
        let ns_addr = ns_listener.local_addr()?;
        info!(listen = %ns_addr, "standalone: NameServer listening");
        if namesrv.is_none() {
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
    if let Some(n) = namesrv {
        config.namesrv_addrs = split_addrs(&n);
    }

    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding the broker to {listen}"))?;
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
