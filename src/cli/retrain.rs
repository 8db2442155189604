//! `driftd retrain`: asks the running daemon's API for a retraining event.

use clap::Args;
use serde_json::json;

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
    let token = config
        .http
        .token
        .as_ref()
        .ok_or("the configuration has no [http] token: the daemon refuses retraining requests")?
        .read("http.token")?;
    let mut bind = config.http.bind;
    if bind.ip().is_unspecified() {
        bind.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{bind}/api/v1/models/{}/retrain", a.model);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "reason": a.reason, "version": a.version }))
            .send()
            .await?;
        let status = resp.status();
        Ok::<_, reqwest::Error>((status, resp.text().await?))
    })?;
    println!("{body}");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {status}").into())
    }
}
