//! `driftd report`: a current file against a reference file, or a live window of a
//! running daemon (`--model`), as a table, JSON or a self-contained HTML page.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::api::DaemonApi;
use super::{DriftDetected, OptionalConfigArg};
use crate::http::DRIFTED_HEADER;
use crate::report::html::PageContext;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Reference dataset: CSV with a header row, or JSON lines (.jsonl).
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub reference: Option<PathBuf>,
    /// Current dataset, same formats.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub current: Option<PathBuf>,
    /// Report a live window of this model from the running daemon of `--config`
    /// (its `[http] bind`) instead of two files.
    #[arg(long)]
    pub model: Option<String>,
    /// With `--model`: one of the daemon's `[windows] windows` (default 1h, else its
    /// first).
    #[arg(long, requires = "model")]
    pub window: Option<String>,
    /// With `--model`: one version (default every version merged).
    #[arg(long, requires = "model")]
    pub version: Option<String>,
    #[command(flatten)]
    pub config: OptionalConfigArg,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Exit with status 1 when any feature's PSI reaches its threshold.
    #[arg(long)]
    pub fail_on_drift: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    /// One self-contained page: summary, charts, sorting and filtering.
    Html,
}

impl ReportFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ReportFormat::Table => "table",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }
}

pub(super) fn report(a: ReportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = a.config.load()?;
    let (text, drifted) = match (&a.model, &a.reference, &a.current) {
        (Some(model), _, _) => live(&a, &config, model)?,
        (None, Some(reference), Some(current)) => {
            let settings = config.report.settings();
            let c = crate::report::compare_files(
                reference,
                current,
                &config.profile.settings(),
                config.profile.psi_epsilon,
                &settings,
            )?;
            let text = match a.format {
                ReportFormat::Json => serde_json::to_string_pretty(&c.report)? + "\n",
                ReportFormat::Table => c.report.to_table(),
                ReportFormat::Html => {
                    let page = PageContext {
                        title: file_name(current),
                        about: vec![
                            ("reference".into(), reference.display().to_string()),
                            ("current".into(), current.display().to_string()),
                            (
                                "generated".into(),
                                crate::base::time::rfc3339(crate::base::time::unix_now_ms()),
                            ),
                        ],
                    };
                    let started = std::time::Instant::now();
                    let page =
                        crate::report::html::render(&c.report, &c.pictures, &settings, &page);
                    tracing::debug!(elapsed = ?started.elapsed(), bytes = page.len(), "page rendered");
                    page
                }
            };
            (text, c.report.drifted.len())
        }
        // clap requires both files without --model.
        _ => return Err("--reference and --current are required without --model".into()),
    };
    match &a.output {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    if a.fail_on_drift && drifted > 0 {
        return Err(Box::new(DriftDetected(drifted)));
    }
    Ok(())
}

/// The daemon renders the report of its window; the CLI writes it out.
fn live(
    a: &ReportArgs,
    config: &crate::config::Config,
    model: &str,
) -> Result<(String, usize), Box<dyn std::error::Error>> {
    let api = DaemonApi::new(config, None)?;
    let mut query = vec![("format", a.format.name())];
    if let Some(w) = &a.window {
        query.push(("window", w));
    }
    if let Some(v) = &a.version {
        query.push(("version", v));
    }
    let (text, headers) = api.get(&["api", "v1", "models", model, "report"], &query)?;
    let drifted = headers
        .get(DRIFTED_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("the daemon's answer has no {DRIFTED_HEADER} header"))?;
    Ok((text, drifted))
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
