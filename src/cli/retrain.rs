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

/// `POST /api/v1/models/{model}/retrain` on `bind`, the model name one encoded path
/// segment (a name like `fraud/eu` would otherwise be two).
fn retrain_url(
    bind: std::net::SocketAddr,
    model: &str,
) -> Result<url::Url, Box<dyn std::error::Error>> {
    let mut url = url::Url::parse(&format!("http://{bind}/"))?;
    url.path_segments_mut()
        .map_err(|()| "not a base URL")?
        .pop_if_empty()
        .extend(["api", "v1", "models", model, "retrain"]);
    Ok(url)
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
    let url = retrain_url(bind, &a.model)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(url.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_one_encoded_path_segment() {
        let bind = "127.0.0.1:7853".parse().unwrap();
        assert_eq!(
            retrain_url(bind, "churn").unwrap().as_str(),
            "http://127.0.0.1:7853/api/v1/models/churn/retrain"
        );
        assert_eq!(
            retrain_url(bind, "fraud/eu v2?#").unwrap().as_str(),
            "http://127.0.0.1:7853/api/v1/models/fraud%2Feu%20v2%3F%23/retrain"
        );
    }
}
