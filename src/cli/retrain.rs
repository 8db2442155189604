//! `driftd retrain`: asks the running daemon's API for a retraining event.

use clap::Args;
use serde_json::json;

use super::api::DaemonApi;
use super::ConfigArg;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct RetrainArgs {
    #[arg(long)]
    pub model: String,
    /// Why: recorded in the event's `data.reason`.
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub version: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub(super) fn retrain(a: RetrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&a.config.config)?;
    let api = DaemonApi::new(&config, Some("retraining requests"))?;
    let body = json!({ "reason": a.reason, "version": a.version });
    let answer = api.call(
        reqwest::Method::POST,
        &["api", "v1", "models", &a.model, "retrain"],
        Some(&body),
    )?;
    println!("{answer}");
    Ok(())
}
