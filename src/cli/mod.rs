//! The command line: the clap definitions shared by every subcommand, and one file
//! per subcommand with its arguments and what it does. `main.rs` only parses and
//! calls [`run()`]; the work itself is in the layers below (a subcommand reads files or
//! the store, calls them, and prints).
//!
//! - [`run`](mod@run): `driftd run` (the daemon, or a replay with `--input`)
//! - [`config`]: `driftd config check`
//! - [`state`]: `driftd state show`
//! - [`report`]: `driftd report`
//! - [`reference`](mod@reference): `driftd reference import|show|capture|list`
//! - [`rules`]: `driftd rules check|test`
//! - [`retrain`]: `driftd retrain`
//! - [`generate`]: `driftd generate`

mod api;
mod config;
mod generate;
pub mod logging;
mod reference;
mod report;
mod retrain;
mod rules;
mod run;
mod silence;
mod state;

pub use config::ConfigCommand;
pub use generate::GenerateArgs;
pub use reference::ReferenceCommand;
pub use report::{ReportArgs, ReportFormat};
pub use retrain::RetrainArgs;
pub use rules::RulesCommand;
pub use run::{RoleArg, RunArgs};
pub use state::{StateCommand, StateShowArgs};

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;

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
    /// Log format on stderr: `text` (for people) or `json` (one object per line, for
    /// log shippers).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "DRIFTD_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The exit code of a failed run: 2 for `driftd report`, whose 1 means "drift
    /// found" (as `diff` and `grep` tell "found" from "could not look"); 1 otherwise.
    pub fn error_exit_code(&self) -> i32 {
        match self.command {
            Command::Report(_) => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
    /// Compare a current dataset with a reference dataset, feature by feature (PSI,
    /// KS, χ², Jensen–Shannon, data quality). With --fail-on-drift the exit code is 1
    /// when any feature drifted, so the command can gate a CI pipeline; an error (a
    /// file that cannot be read, a bad config) exits 2.
    Report(ReportArgs),
    /// Reference profiles stored for the daemon: import, show, list.
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// Alert rules: validate rule files, run rule unit tests.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Ask the running daemon for a retraining event for a model (POST
    /// /api/v1/models/{model}/retrain with the `[http]` token); the per-model cooldown
    /// applies.
    Retrain(RetrainArgs),
    /// Silences of the built-in e-mail: add, list, expire (through the running
    /// daemon's /api/v1/silences; adding and expiring need the `[http]` token).
    #[command(subcommand)]
    Silence(silence::SilenceCommand),
}

#[derive(Debug, Args)]
pub struct OptionalConfigArg {
    /// Path to driftd.toml (`[profile]` and `[report]` settings, store path); defaults apply
    /// when omitted and ./driftd.toml does not exist.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

impl OptionalConfigArg {
    pub(crate) fn load(&self) -> Result<Config, crate::config::ConfigError> {
        match &self.config {
            Some(p) => Config::load(p),
            None if std::path::Path::new("driftd.toml").exists() => {
                Config::load(std::path::Path::new("driftd.toml"))
            }
            None => Ok(Config::default()),
        }
    }
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Path to driftd.toml.
    #[arg(long, short, default_value = "driftd.toml")]
    pub config: PathBuf,
}

/// Runs a parsed command; the error is printed by `main`.
pub fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Config(c) => config::config(c),
        Command::State(c) => state::state(c),
        Command::Report(a) => report::report(a),
        Command::Reference(c) => reference::reference(c),
        Command::Rules(c) => rules::rules(c),
        Command::Retrain(a) => retrain::retrain(a),
        Command::Silence(c) => silence::silence(c),
        Command::Generate(a) => generate::generate(a),
    }
}

/// Exit status 1 for `--fail-on-drift`, distinct from errors in output only.
#[derive(Debug, thiserror::Error)]
#[error("{0} feature(s) drifted")]
pub struct DriftDetected(pub usize);
