//! The `driftd` binary: parse the command line, set up logging, run, map errors to
//! exit codes. Everything else lives in the library.

use std::io::IsTerminal;

use clap::Parser;

/// Per-record allocations (feature names, categories, polled payloads) are freed a
/// batch at a time; mimalloc spends about half of glibc's time on them
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = driftd::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        driftd::cli::LogFormat::Json => logs.json().init(),
        driftd::cli::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    if let Err(e) = driftd::cli::run(cli) {
        // --fail-on-drift: the report is already printed; only the status changes.
        if let Some(d) = e.downcast_ref::<driftd::cli::DriftDetected>() {
            eprintln!("drift: {d}");
        } else {
            eprintln!("error: {e}");
        }
        std::process::exit(1);
    }
}
