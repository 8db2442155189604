//! `[alerting]`, `[email]`, `[retrain]` and `[outbox]`: rule files and notification
//! timers, SMTP, retraining events and delivery retries.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::base::time::parse_duration;

use super::{de_any_duration, de_nonempty, SecretRef};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Rule files, or directories whose `*.toml` files are rules.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// How long a new group of alerts waits before its first e-mail.
    #[serde(default = "default_group_wait", deserialize_with = "de_any_duration")]
    pub group_wait: Duration,
    /// How often a group is looked at again for changes.
    #[serde(
        default = "default_group_interval",
        deserialize_with = "de_any_duration"
    )]
    pub group_interval: Duration,
    /// How often an unchanged, still-firing group is e-mailed again.
    #[serde(
        default = "default_repeat_interval",
        deserialize_with = "de_any_duration"
    )]
    pub repeat_interval: Duration,
    /// E-mail when alerts resolve.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// The labels that make one e-mail (and webhook) group, as Alertmanager's
    /// `group_by`: default `["model"]`; `[]` one group for everything, `["..."]` one
    /// per alert.
    #[serde(default = "default_group_by", deserialize_with = "de_group_by")]
    pub group_by: Vec<String>,
    /// Grafana's base URL, for links in e-mails (e.g. "http://grafana:3000").
    #[serde(default, deserialize_with = "de_base_url")]
    pub dashboard_url: Option<String>,
}

fn de_base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    base_url(&s).map_err(de::Error::custom)?;
    Ok(Some(s))
}

/// `s` is an http(s) URL that paths can be appended to.
fn base_url(s: &str) -> Result<(), String> {
    match url::Url::parse(s) {
        Ok(u) if u.cannot_be_a_base() || !matches!(u.scheme(), "http" | "https") => Err(format!(
            "`{s}` cannot be a base URL: use http(s)://host[:port][/path]"
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "`{s}` is not a URL ({e}): use http(s)://host[:port][/path]"
        )),
    }
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            rules: Vec::new(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
            send_resolved: true,
            group_by: default_group_by(),
            dashboard_url: None,
        }
    }
}

impl AlertingConfig {
    pub(crate) fn group_settings(&self) -> crate::notify::GroupSettings {
        crate::notify::GroupSettings {
            group_wait_ms: self.group_wait.as_millis() as i64,
            group_interval_ms: self.group_interval.as_millis() as i64,
            repeat_interval_ms: self.repeat_interval.as_millis() as i64,
            send_resolved: self.send_resolved,
            group_by: if self.group_by.iter().any(|l| l == "...") {
                crate::notify::GroupBy::All
            } else {
                crate::notify::GroupBy::Labels(self.group_by.clone())
            },
        }
    }
}

fn default_group_by() -> Vec<String> {
    vec!["model".into()]
}

fn de_group_by<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let labels = Vec::<String>::deserialize(d)?;
    if labels.iter().any(|l| l == "...") && labels.len() > 1 {
        return Err(de::Error::custom(
            "`...` (every label) stands alone in group_by",
        ));
    }
    for l in &labels {
        let valid = l == "..."
            || (l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !valid {
            return Err(de::Error::custom(format!(
                "`{l}` is not a label name ([A-Za-z_][A-Za-z0-9_]*, or `...` for every label)"
            )));
        }
    }
    Ok(labels)
}

fn default_true() -> bool {
    true
}
fn default_group_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_group_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); the default.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all; only when explicitly configured (local relays, tests).
    None,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(deserialize_with = "de_mailboxes")]
    pub to: Vec<String>,
    #[serde(default = "default_from", deserialize_with = "de_mailbox")]
    pub from: String,
    pub smtp_host: String,
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    /// The SMTP password, from an environment variable or a file.
    #[serde(default)]
    pub password: Option<SecretRef>,
    #[serde(default = "default_smtp_timeout", deserialize_with = "de_any_duration")]
    pub timeout: Duration,
}

fn default_from() -> String {
    "driftd <driftd@localhost>".into()
}
fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}
fn default_smtp_timeout() -> Duration {
    Duration::from_secs(10)
}
fn de_mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<lettre::message::Mailbox>()
        .map_err(|e| de::Error::custom(format!("`{s}` is not an e-mail address: {e}")))?;
    Ok(s)
}
fn de_mailboxes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    if list.is_empty() {
        return Err(de::Error::custom("list at least one recipient"));
    }
    for s in &list {
        s.parse::<lettre::message::Mailbox>()
            .map_err(|e| de::Error::custom(format!("`{s}` is not an e-mail address: {e}")))?;
    }
    Ok(list)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// Kafka topic of the CloudEvents, keyed by model.
    #[serde(default = "default_retrain_topic", deserialize_with = "de_nonempty")]
    pub topic: String,
    /// Kafka topic of the deployment verdict CloudEvents (`promote`, `rollback`),
    /// keyed by model: the retraining topic's sibling.
    #[serde(
        default = "default_deployments_topic",
        deserialize_with = "de_nonempty"
    )]
    pub deployments_topic: String,
    /// At most one retraining request per model within this period.
    #[serde(default = "default_cooldown", deserialize_with = "de_any_duration")]
    pub cooldown: Duration,
    /// Suggested training data: "30d" (the last 30 days) or "since-last-retrain".
    #[serde(
        default = "default_training_window",
        deserialize_with = "de_training_window"
    )]
    pub training_window: crate::retrain::TrainingWindow,
    /// The CloudEvent `source` attribute.
    #[serde(default = "default_event_source", deserialize_with = "de_nonempty")]
    pub source: String,
    /// Also POST each event to this URL (the webhook action).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Bearer token for the webhook.
    #[serde(default)]
    pub webhook_token: Option<SecretRef>,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        RetrainConfig {
            topic: default_retrain_topic(),
            deployments_topic: default_deployments_topic(),
            cooldown: default_cooldown(),
            training_window: default_training_window(),
            source: default_event_source(),
            webhook_url: None,
            webhook_token: None,
        }
    }
}

fn default_retrain_topic() -> String {
    "driftd.retrain".into()
}
fn default_deployments_topic() -> String {
    "driftd.deployments".into()
}
fn default_cooldown() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_training_window() -> crate::retrain::TrainingWindow {
    crate::retrain::TrainingWindow::Last(Duration::from_secs(30 * 86_400))
}
fn default_event_source() -> String {
    "/driftd".into()
}
fn de_training_window<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<crate::retrain::TrainingWindow, D::Error> {
    let s = String::deserialize(d)?;
    if s == "since-last-retrain" {
        return Ok(crate::retrain::TrainingWindow::SinceLastRetrain);
    }
    let dur = parse_duration(&s)
        .map_err(|e| de::Error::custom(format!("{e} (or \"since-last-retrain\")")))?;
    Ok(crate::retrain::TrainingWindow::Last(dur))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// First retry delay; doubled after each failure.
    #[serde(
        default = "default_initial_backoff",
        deserialize_with = "de_any_duration"
    )]
    pub initial_backoff: Duration,
    /// Longest delay between two attempts.
    #[serde(default = "default_max_backoff", deserialize_with = "de_any_duration")]
    pub max_backoff: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(300)
}

/// `[alertmanager]`: where and how alerts are pushed (`POST /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager base URLs, e.g. "http://alertmanager:9093"; each gets every push,
    /// as Prometheus sends to every Alertmanager of a cluster.
    #[serde(deserialize_with = "de_base_urls")]
    pub urls: Vec<String>,
    /// How often an alert that is still firing (or recently resolved) is sent again:
    /// Prometheus's `--rules.alert.resend-delay`.
    #[serde(default = "default_resend_delay", deserialize_with = "de_any_duration")]
    pub resend_delay: Duration,
    /// Bearer token for Alertmanager (behind an authenticating proxy), from an
    /// environment variable or a file.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Base of each alert's `generatorURL` (driftd's API as others reach it); default
    /// `http://` + `[http] bind`.
    #[serde(default, deserialize_with = "de_base_url")]
    pub generator_url: Option<String>,
    /// HTTP basic authentication (Alertmanager's `--web.config.file`
    /// `basic_auth_users`); instead of `token`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// TLS towards `https://` URLs, as Prometheus's `tls_config`.
    #[serde(default)]
    pub tls: Option<TlsClientConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    #[serde(deserialize_with = "de_nonempty")]
    pub username: String,
    /// From an environment variable or a file, never the configuration itself.
    pub password: SecretRef,
}

/// Prometheus's `tls_config` keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// PEM CA certificate(s) to trust besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and its PKCS#8 PEM key, for mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl AlertmanagerConfig {
    /// What serde cannot say alone: at most one credential, a client key with its
    /// certificate.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.token.is_some() && self.basic_auth.is_some() {
            return Err(
                "set either alertmanager.token or alertmanager.basic_auth, not both".into(),
            );
        }
        if let Some(t) = &self.tls {
            if t.cert_file.is_some() != t.key_file.is_some() {
                return Err(
                    "alertmanager.tls: set cert_file and key_file together (mutual TLS)".into(),
                );
            }
        }
        Ok(())
    }
}

fn default_resend_delay() -> Duration {
    Duration::from_secs(60)
}

fn de_base_urls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let urls = Vec::<String>::deserialize(d)?;
    if urls.is_empty() {
        return Err(de::Error::custom(
            "list at least one Alertmanager, e.g. [\"http://alertmanager:9093\"]",
        ));
    }
    for u in &urls {
        base_url(u).map_err(de::Error::custom)?;
    }
    Ok(urls)
}

/// `[webhook]`: where the grouped notifications are POSTed, in Alertmanager's webhook
/// payload (`version` "4").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhookConfig {
    #[serde(deserialize_with = "de_required_base_url")]
    pub url: String,
    /// Bearer token, from an environment variable or a file.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

fn de_required_base_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    base_url(&s).map_err(de::Error::custom)?;
    Ok(s)
}
