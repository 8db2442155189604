//! `driftd report`: a current file against a reference file, as a table or JSON.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{DriftDetected, OptionalConfigArg};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Reference dataset: CSV with a header row, or JSON lines (.jsonl).
    #[arg(long)]
    pub reference: PathBuf,
    /// Current dataset, same formats.
    #[arg(long)]
    pub current: PathBuf,
    #[command(flatten)]
    pub config: OptionalConfigArg,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Exit with status 1 when any feature's PSI reaches its threshold.
    #[arg(long)]
    pub fail_on_drift: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

pub(super) fn report(a: ReportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = a.config.load()?;
    let report = crate::report::compare_files(
        &a.reference,
        &a.current,
        &config.profile.settings(),
        config.profile.psi_epsilon,
        &config.report.settings(),
    )?;
    match a.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Table => print!("{}", report.to_table()),
    }
    if a.fail_on_drift && !report.drifted.is_empty() {
        return Err(Box::new(DriftDetected(report.drifted.len())));
    }
    Ok(())
}
