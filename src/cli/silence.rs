//! `driftd silence add|list|expire`: silences of the built-in e-mail, through the
//! running daemon's API (`/api/v1/silences`; the store is the daemon's while it runs).

use clap::{Args, Subcommand};
use serde_json::Value;

use super::api::DaemonApi;
use super::ConfigArg;
use crate::config::Config;
use crate::notify::silence::SilenceRequest;

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts whose labels match every MATCHER (name=value, name!=value,
    /// name=~regex, name!~regex), e.g. `driftd silence add model=churn feature=~"a.*"
    /// --duration 2h --comment "planned migration"`.
    Add(SilenceAddArgs),
    /// List silences: active, pending and recently expired.
    List(ConfigArg),
    /// End a silence now.
    Expire {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Args)]
pub struct SilenceAddArgs {
    #[arg(required = true)]
    pub matchers: Vec<String>,
    /// How long, from the start (e.g. 2h, 1d12h); or --ends-at.
    #[arg(long, conflicts_with = "ends_at")]
    pub duration: Option<String>,
    /// RFC 3339; default now.
    #[arg(long)]
    pub starts_at: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    pub ends_at: Option<String>,
    /// Why: shown with the silence.
    #[arg(long)]
    pub comment: String,
    /// Who: default $USER.
    #[arg(long)]
    pub author: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub(super) fn silence(c: SilenceCommand) -> Result<(), Box<dyn std::error::Error>> {
    match c {
        SilenceCommand::Add(a) => {
            let config = Config::load(&a.config.config)?;
            let api = DaemonApi::new(&config, Some("silences"))?;
            let request = SilenceRequest {
                matchers: a.matchers,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                duration: a.duration,
                created_by: a
                    .author
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "driftd".into()),
                comment: a.comment,
            };
            // Checked here too, for an error before any request.
            request
                .clone()
                .into_silence(crate::base::time::unix_now_ms())?;
            let body = serde_json::to_value(&request)?;
            let answer: Value = serde_json::from_str(&api.call(
                reqwest::Method::POST,
                &["api", "v1", "silences"],
                Some(&body),
            )?)?;
            println!("{}", answer["id"].as_str().unwrap_or_default());
        }
        SilenceCommand::List(c) => {
            let config = Config::load(&c.config)?;
            let api = DaemonApi::new(&config, None)?;
            let answer: Value = serde_json::from_str(&api.call(
                reqwest::Method::GET,
                &["api", "v1", "silences"],
                None,
            )?)?;
            let empty = Vec::new();
            for s in answer["silences"].as_array().unwrap_or(&empty) {
                let matchers: Vec<String> = s["matchers"]
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .map(|m| {
                        let op = match m["op"].as_str() {
                            Some("not_equal") => "!=",
                            Some("regex") => "=~",
                            Some("not_regex") => "!~",
                            _ => "=",
                        };
                        format!("{}{op}{}", m["name"].as_str().unwrap_or(""), m["value"])
                    })
                    .collect();
                println!(
                    "{}  {:<8} {} → {}  {}  by {}: {}",
                    s["id"].as_str().unwrap_or(""),
                    s["state"].as_str().unwrap_or(""),
                    s["starts_at"].as_str().unwrap_or(""),
                    s["ends_at"].as_str().unwrap_or(""),
                    matchers.join(" "),
                    s["created_by"].as_str().unwrap_or(""),
                    s["comment"].as_str().unwrap_or(""),
                );
            }
        }
        SilenceCommand::Expire { id, config } => {
            let config = Config::load(&config.config)?;
            let api = DaemonApi::new(&config, Some("silences"))?;
            api.call(
                reqwest::Method::DELETE,
                &["api", "v1", "silences", &id],
                None,
            )?;
            println!("expired {id}");
        }
    }
    Ok(())
}
