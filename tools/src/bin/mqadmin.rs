//! `mqadmin`: FerroMQ's administration tool. Parses the command line, runs
//! the command (see `ferromq_tools::admin`), and turns an error into one
//! line on stderr and exit code 1.

use std::process::ExitCode;

use clap::Parser;
use ferromq_tools::cli::Cli;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr so stdout stays the command's output.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqadmin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match runtime.block_on(ferromq_tools::run(cli, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqadmin: {e:#}");
            ExitCode::FAILURE
        }
    }
}
