//! `mqbench`: FerroMQ's load generator. Parses flags, runs the benchmark
//! (`tools/src/bench`) on a multi-threaded runtime, prints the report.
//!
//! The bench modules are included by path rather than through the
//! `ferromq_tools` library: they are this binary's own code, and keeping
//! them out of the library keeps its API (mqadmin's) unchanged.

#[path = "../bench/mod.rs"]
mod bench;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// The same allocator as the broker's, so the load generator costs as
/// little of the shared cores as it can.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

use bench::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = match &cli.command {
        bench::args::Command::Produce(a) => a.common.json,
        bench::args::Command::Consume(a) => a.common.json,
        bench::args::Command::E2e(a) => a.common.json,
    };
    // Logs go to stderr so stdout stays the report.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Multi-threaded: producers, consumers and the client's connection tasks
    // should use every core the broker leaves.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqbench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(bench::run(cli)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqbench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Held pulls and connection tasks need not finish gracefully.
    runtime.shutdown_background();
    let text = if json {
        match report.to_json() {
            Ok(s) => format!("{s}\n"),
            Err(e) => {
                eprintln!("mqbench: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        report.to_string()
    };
    if std::io::stdout().lock().write_all(text.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    if report.complete {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "mqbench: stopped before the count was reached (nothing arrived for the idle timeout)"
        );
        ExitCode::from(3)
    }
}
