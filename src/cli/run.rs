//! `driftd run`: the daemon, or a replay of a JSON-lines file with `--input`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::ConfigArg;
use crate::config::Config;
use crate::event::SourceRole;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Replay a JSON-lines file (`-` for stdin) instead of consuming Kafka, then exit.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With --input: what the lines are (their field paths come from the first
    /// `[[source]]` with this role).
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

pub(super) fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&args.config.config)?;
    match args.input {
        Some(input) => {
            let role = match args.role {
                RoleArg::Predictions => SourceRole::Predictions,
                RoleArg::Labels => SourceRole::Labels,
            };
            let s = crate::replay::replay(&config, &input, role, args.dead_letter.as_deref())?;
            tracing::info!(lines = s.lines, rejected = s.rejected, "replay done");
            Ok(())
        }
        None => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(crate::daemon::run(config, args.config.config.clone()))?;
            Ok(())
        }
    }
}
