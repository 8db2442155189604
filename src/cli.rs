//! The command line: clap definitions and one function per subcommand. `main.rs`
//! only parses and calls [`run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::{parse_duration, Config, SourceRole};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "driftd",
    version,
    about = "Streaming drift monitoring for machine-learning models in production",
    long_about = "driftd consumes prediction and label logs from Kafka, keeps per-model \
                  state in an embedded store with exactly-once checkpoints, and exposes \
                  Prometheus metrics. See README.md for a quick start."
)]
pub struct Cli {
    /// Log filter, e.g. `info`, `debug`, `driftd=debug,rdkafka=warn` (or RUST_LOG).
    #[arg(long, global = true, default_value = "info", env = "RUST_LOG")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: consume the configured topics (or replay a JSON-lines file
    /// with --input), checkpoint state to the store, serve /metrics, /healthz, /readyz.
    /// Stops cleanly on SIGINT/SIGTERM after a final checkpoint.
    Run(RunArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect the persisted state (stop the daemon first: the store is locked while it runs).
    #[command(subcommand)]
    State(StateCommand),
    /// Produce a synthetic prediction stream to Kafka (for the demo and load tests).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Path to driftd.toml.
    #[arg(long, short, default_value = "driftd.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Replay a JSON-lines file (`-` for stdin) instead of consuming Kafka, then exit.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With --input: what the lines are (their field paths come from the first
    /// [[source]] with this role).
    #[arg(long, value_enum, default_value = "predictions", requires = "input")]
    pub role: RoleArg,
    /// With --input: write rejected lines, with their reason, to this JSON-lines file.
    #[arg(long, requires = "input")]
    pub dead_letter: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Predictions,
    Labels,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file; exit 1 with the key and line of the first error.
    Check(ConfigArg),
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the checkpointed counts and offsets as JSON.
    Show(ConfigArg),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub brokers: String,
    #[arg(long, default_value = "predictions")]
    pub topic: String,
    /// Records to produce; 0 runs until interrupted.
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Records per second; 0 is as fast as possible.
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// Comma-separated model names; records go round-robin over them.
    #[arg(long, default_value = "churn,fraud,ltv", value_delimiter = ',')]
    pub models: Vec<String>,
    /// Make every n-th record malformed (0 = never), to exercise the dead-letter path.
    #[arg(long, default_value_t = 0)]
    pub malformed_every: u64,
    /// Shift every distribution after this long, e.g. `60s`.
    #[arg(long, value_parser = parse_duration)]
    pub drift_after: Option<Duration>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs a parsed command; the error is printed by `main`.
pub fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Run(args) => {
            let config = Config::load(&args.config.config)?;
            match args.input {
                Some(input) => {
                    let role = match args.role {
                        RoleArg::Predictions => SourceRole::Predictions,
                        RoleArg::Labels => SourceRole::Labels,
                    };
                    let s =
                        crate::replay::replay(&config, &input, role, args.dead_letter.as_deref())?;
                    tracing::info!(lines = s.lines, rejected = s.rejected, "replay done");
                    Ok(())
                }
                None => {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()?;
                    rt.block_on(crate::daemon::run(config))?;
                    Ok(())
                }
            }
        }
        Command::Config(ConfigCommand::Check(arg)) => {
            let config = Config::load(&arg.config)?;
            println!(
                "{}: ok ({} source(s), brokers {}, store {}, http {})",
                arg.config.display(),
                config.sources.len(),
                config.kafka.brokers.join(","),
                config.storage.path.display(),
                config.http.bind
            );
            Ok(())
        }
        Command::State(StateCommand::Show(arg)) => {
            let config = Config::load(&arg.config)?;
            let state = Store::open(&config.storage.path)?.load()?;
            let mut events = serde_json::Map::new();
            for ((model, version), n) in state.events() {
                let entry = events.entry(model.clone()).or_insert_with(|| json!({}));
                entry[version] = json!(n);
            }
            let offsets: Vec<_> = state
                .offsets()
                .iter()
                .map(|((t, p), o)| json!({"topic": t, "partition": p, "next_offset": o}))
                .collect();
            let out = json!({
                "events": events,
                "labels": state.labels(),
                "offsets": offsets,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Generate(a) => {
            let opts = crate::generate::GenerateOptions {
                brokers: a.brokers,
                topic: a.topic,
                count: a.count,
                rate: a.rate,
                models: a.models,
                malformed_every: a.malformed_every,
                drift_after: a.drift_after,
                seed: a.seed,
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            {
                let stop = stop.clone();
                // Ctrl-C stops producing but still flushes what was sent.
                std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        rt.block_on(crate::daemon::shutdown_signal());
                        stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
            let sent = crate::generate::generate(&opts, || {
                stop.load(std::sync::atomic::Ordering::SeqCst)
            })?;
            tracing::info!(sent, topic = %opts.topic, "generate done");
            Ok(())
        }
    }
}
