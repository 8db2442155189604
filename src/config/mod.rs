//! `driftd.toml`: the one place that knows the configuration's shape.
//!
//! Every table is `deny_unknown_fields`, and every value is validated while it is
//! deserialized, so that a mistake is reported by the TOML parser with the line, the
//! column and the key (`TOML parse error at line 7, column 1 … unknown field `brokerz``).
//! Checks that need more than one value at a time run afterwards in [`Config::validate`]
//! and still name the key and its line, through [`toml::Spanned`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use toml::Spanned;

use crate::base::text::line_of;
use crate::base::time::parse_duration;
use crate::evaluate::EvaluationSettings;
use crate::event::{FieldPaths, SourceRole};
use crate::reference::{FeatureKindName, ProfileSettings};
use crate::report::ReportSettings;

/// Where the HTTP server listens unless told otherwise. Loopback only, and outside
/// 9100–9999, the range the Prometheus project hands out to exporters.
pub(crate) const DEFAULT_HTTP_BIND: &str = "127.0.0.1:7853";

/// librdkafka settings that driftd sets itself; letting users override them would
/// break the checkpoint protocol (offsets are stored and committed only after sled).
const MANAGED_CLIENT_KEYS: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub http: HttpConfig,
    /// One `[[source]]` table per topic driftd consumes (the daemon needs one).
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceConfig>,
    /// How reference profiles are built.
    #[serde(default)]
    pub profile: ProfileConfig,
    /// Drift verdicts of `driftd report` (and of the daemon's windows).
    #[serde(default)]
    pub report: ReportConfig,
    /// Event-time buckets and the rolling windows evaluated over them.
    #[serde(default)]
    pub windows: WindowsConfig,
    /// Joining ground-truth labels to predictions.
    #[serde(default)]
    pub labels: LabelsConfig,
    /// Per-model settings, `[models.<name>]`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// Rule files and notification grouping.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// Alert e-mails over SMTP; without this table no e-mail is sent.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// Retraining events (CloudEvents on Kafka, optionally a webhook).
    #[serde(default)]
    pub retrain: RetrainConfig,
    /// Retries of e-mails and events that could not be delivered yet.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// What a record may be before it is dead-lettered instead of counted.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// A secret read from an environment variable or a file (never written in the
/// configuration itself, never logged).
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the secret (trailing newline removed), e.g. a systemd credential.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRef")
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

impl SecretRef {
    /// Reads the secret; the error names where it looked, never the value.
    pub fn read(&self, key: &str) -> Result<String, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var)
                .map_err(|_| format!("{key}: environment variable `{var}` is not set")),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("{key}: cannot read {}: {e}", path.display())),
            _ => Err(format!("{key}: set exactly one of `env` or `file`")),
        }
    }
}

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
    /// Grafana's base URL, for links in e-mails (e.g. "http://grafana:3000").
    #[serde(default)]
    pub dashboard_url: Option<String>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            rules: Vec::new(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
            send_resolved: true,
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
        }
    }
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

/// Bounds on input, so that a hostile or broken producer costs a dead-letter record
/// rather than memory or a wrong window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Larger records are dead-lettered (`too_large`) without being parsed.
    #[serde(
        default = "default_max_message_bytes",
        deserialize_with = "de_positive"
    )]
    pub max_message_bytes: usize,
    /// Records whose event time is further ahead of the clock are dead-lettered
    /// (`from_the_future`): they would sit in a bucket no window reaches yet.
    #[serde(default = "default_max_future", deserialize_with = "de_any_duration")]
    pub max_future: Duration,
    /// When no model is configured (no reference profile, no `[models.*]` table), at
    /// most this many models are tracked; records of further ones are dead-lettered
    /// (`unknown_model`). With models configured, only those are accepted.
    #[serde(default = "default_max_models", deserialize_with = "de_positive")]
    pub max_models: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: default_max_message_bytes(),
            max_future: default_max_future(),
            max_models: default_max_models(),
        }
    }
}

fn default_max_message_bytes() -> usize {
    1024 * 1024
}
fn default_max_future() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_models() -> usize {
    100
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// "profile" (the imported reference profile, the default) or "previous:<period>",
    /// e.g. "previous:7d": each window is compared with the period just before it,
    /// in the imported profile's bins.
    #[serde(default, deserialize_with = "de_reference_mode")]
    pub reference: ReferenceMode,
    /// Reference values of metrics (e.g. the validation accuracy at training time),
    /// for rule conditions such as `< reference * 0.95`.
    #[serde(default, deserialize_with = "de_reference_metrics")]
    pub reference_metrics: BTreeMap<String, f64>,
    /// Scheduled retraining, a five-field cron expression in UTC (e.g. "0 3 * * 1").
    #[serde(default, deserialize_with = "de_cron")]
    pub retrain_schedule: Option<CronText>,
}

fn de_reference_metrics<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, f64>, D::Error> {
    let map = BTreeMap::<String, f64>::deserialize(d)?;
    for (k, v) in &map {
        if !crate::rules::sample::is_model_metric(k) {
            return Err(de::Error::custom(format!(
                "`{k}` is not a model metric; use one of {}",
                crate::rules::sample::model_metrics().join(", ")
            )));
        }
        if !v.is_finite() {
            return Err(de::Error::custom(format!("`{k}` must be a finite number")));
        }
    }
    Ok(map)
}

/// A validated cron expression, kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct CronText(pub String);

fn de_cron<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CronText>, D::Error> {
    let s = String::deserialize(d)?;
    crate::retrain::CronSchedule::parse(&s).map_err(de::Error::custom)?;
    Ok(Some(CronText(s)))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReferenceMode {
    #[default]
    Profile,
    Previous(Duration),
}

/// The configuration the daemon evaluates with; SIGHUP replaces it (see
/// [`Config::restart_only_changes`] for what a reload cannot change).
#[derive(Debug, Clone)]
pub(crate) struct LiveConfig(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Config>>>);

impl LiveConfig {
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig(std::sync::Arc::new(std::sync::RwLock::new(
            std::sync::Arc::new(config),
        )))
    }

    /// The current configuration.
    pub fn get(&self) -> std::sync::Arc<Config> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, config: Config) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(config);
    }
}

impl Config {
    /// Sections that differ between `self` (running) and `new` but that only a restart
    /// applies: the consumer, the store, the listener and the bucket layout are set up
    /// once. Reports, windows evaluated, model references and ε apply at once.
    pub(crate) fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kafka != new.kafka {
            out.push("[kafka]");
        }
        if self.sources != new.sources {
            out.push("[[source]]");
        }
        if self.storage != new.storage {
            out.push("[storage]");
        }
        if self.http != new.http {
            out.push("[http]");
        }
        if self.labels != new.labels {
            out.push("[labels]");
        }
        if self.email != new.email {
            out.push("[email]");
        }
        if self.retrain != new.retrain {
            out.push("[retrain]");
        }
        if self.outbox != new.outbox {
            out.push("[outbox]");
        }
        if self.limits != new.limits {
            out.push("[limits]");
        }
        // The models whose records are accepted are fixed at start, like the profiles.
        if !self.models.keys().eq(new.models.keys()) {
            out.push("[models.*] (which models are accepted)");
        }
        let w = (&self.windows, &new.windows);
        if w.0.bucket != w.1.bucket
            || w.0.tick != w.1.tick
            || w.0.fine_retention != w.1.fine_retention
            || w.0.hour_retention != w.1.hour_retention
            || w.0.day_retention != w.1.day_retention
        {
            out.push("[windows] bucket, tick and retentions");
        }
        out
    }

    /// The rolling reference period of a model, if it has one.
    pub(crate) fn rolling_reference(&self, model: &str) -> Option<Duration> {
        match self.models.get(model).map(|m| m.reference) {
            Some(ReferenceMode::Previous(d)) => Some(d),
            _ => None,
        }
    }
}

fn de_reference_mode<'de, D: Deserializer<'de>>(d: D) -> Result<ReferenceMode, D::Error> {
    let s = String::deserialize(d)?;
    if s == "profile" {
        return Ok(ReferenceMode::Profile);
    }
    let period = s.strip_prefix("previous:").ok_or_else(|| {
        de::Error::custom(format!(
            "`{s}` is neither \"profile\" nor \"previous:<period>\" (e.g. \"previous:7d\")"
        ))
    })?;
    let dur = parse_duration(period).map_err(de::Error::custom)?;
    if dur.is_zero() {
        return Err(de::Error::custom(
            "the rolling reference period must be longer than 0",
        ));
    }
    Ok(ReferenceMode::Previous(dur))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsConfig {
    /// How long a prediction waits for its label (and a label for its prediction).
    #[serde(default = "default_label_ttl", deserialize_with = "de_any_duration")]
    pub ttl: Duration,
    /// Binary classifiers: scores at or above this predict the positive class.
    #[serde(
        default = "default_label_threshold",
        deserialize_with = "de_label_threshold"
    )]
    pub threshold: f64,
    /// Per-model task ("binary", "regression", "classification"); inferred otherwise.
    #[serde(default)]
    pub tasks: BTreeMap<String, crate::join::Task>,
    /// A key of the records' `segment` object (e.g. "region") to break performance
    /// down by.
    #[serde(default)]
    pub segment_key: Option<String>,
    /// Segment values kept per bucket; the rest are reported as "__other__".
    #[serde(default = "default_max_segments", deserialize_with = "de_max_segments")]
    pub max_segments: usize,
}

fn default_max_segments() -> usize {
    20
}
fn de_max_segments<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    de_ranged_usize(d, 1, 1000)
}

impl Default for LabelsConfig {
    fn default() -> Self {
        LabelsConfig {
            ttl: default_label_ttl(),
            threshold: default_label_threshold(),
            tasks: BTreeMap::new(),
            segment_key: None,
            max_segments: default_max_segments(),
        }
    }
}

impl LabelsConfig {
    pub fn settings(&self) -> crate::join::LabelSettings {
        crate::join::LabelSettings {
            ttl_ms: self.ttl.as_millis() as i64,
            threshold: self.threshold,
            tasks: self.tasks.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            segment_key: self.segment_key.clone(),
            max_segments: self.max_segments,
            keep_predictions: true,
        }
    }
}

fn default_label_ttl() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_label_threshold() -> f64 {
    0.5
}
fn de_label_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de_open_unit(d, "threshold")
}

/// Buckets, tiers and windows (see `window.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// Width of the fine buckets; must divide one hour.
    #[serde(default = "default_bucket", deserialize_with = "de_bucket")]
    pub bucket: Duration,
    /// Rolling windows evaluated every tick, e.g. ["5m", "1h", "24h"].
    #[serde(default = "default_windows", deserialize_with = "de_windows")]
    pub windows: Vec<(String, Duration)>,
    /// How often windows are evaluated and their metrics updated.
    #[serde(default = "default_tick", deserialize_with = "de_any_duration")]
    pub tick: Duration,
    /// How long fine buckets are kept before they are folded into hour buckets.
    #[serde(
        default = "default_fine_retention",
        deserialize_with = "de_any_duration"
    )]
    pub fine_retention: Duration,
    /// How long hour buckets are kept before they are folded into day buckets.
    #[serde(
        default = "default_hour_retention",
        deserialize_with = "de_any_duration"
    )]
    pub hour_retention: Duration,
    /// How long day buckets are kept; older events are counted as too late.
    #[serde(
        default = "default_day_retention",
        deserialize_with = "de_any_duration"
    )]
    pub day_retention: Duration,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        WindowsConfig {
            bucket: default_bucket(),
            windows: default_windows(),
            tick: default_tick(),
            fine_retention: default_fine_retention(),
            hour_retention: default_hour_retention(),
            day_retention: default_day_retention(),
        }
    }
}

impl WindowsConfig {
    pub fn settings(&self) -> crate::window::WindowSettings {
        crate::window::WindowSettings {
            bucket_ms: self.bucket.as_millis() as i64,
            fine_retention_ms: self.fine_retention.as_millis() as i64,
            hour_retention_ms: self.hour_retention.as_millis() as i64,
            day_retention_ms: self.day_retention.as_millis() as i64,
        }
    }

    /// The configured window names, e.g. ["5m", "1h", "24h"].
    pub fn names(&self) -> Vec<String> {
        self.windows.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The window named `name` (as written in the config, e.g. "1h").
    pub fn window(&self, name: &str) -> Option<Duration> {
        self.windows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| *d)
    }
}

fn default_bucket() -> Duration {
    Duration::from_secs(60)
}
fn default_windows() -> Vec<(String, Duration)> {
    ["5m", "1h", "24h"]
        .iter()
        .filter_map(|w| parse_duration(w).ok().map(|d| (w.to_string(), d)))
        .collect()
}
fn default_tick() -> Duration {
    Duration::from_secs(10)
}
fn default_fine_retention() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_hour_retention() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_day_retention() -> Duration {
    Duration::from_secs(90 * 86_400)
}
fn de_any_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let dur = parse_duration(&s).map_err(de::Error::custom)?;
    if dur.is_zero() {
        return Err(de::Error::custom("must be longer than 0"));
    }
    Ok(dur)
}
fn de_bucket<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let dur = parse_duration(&s).map_err(de::Error::custom)?;
    let ms = dur.as_millis();
    if ms < 1000 || 3_600_000 % ms != 0 {
        return Err(de::Error::custom(format!(
            "`{s}` must be at least 1s and divide one hour (e.g. 10s, 1m, 5m, 1h)"
        )));
    }
    Ok(dur)
}
fn de_windows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Duration)>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(de::Error::custom("list at least one window, e.g. [\"1h\"]"));
    }
    names
        .into_iter()
        .map(|n| {
            let dur = parse_duration(&n).map_err(de::Error::custom)?;
            if dur.is_zero() {
                return Err(de::Error::custom(format!("window `{n}` is empty")));
            }
            Ok((n, dur))
        })
        .collect()
}

/// Reference profile settings (DESIGN §4.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// R: fine quantile edges k/R for the KS statistic.
    #[serde(default = "default_resolution", deserialize_with = "de_resolution")]
    pub resolution: usize,
    /// B: PSI edges at quantiles k/B.
    #[serde(default = "default_psi_bins", deserialize_with = "de_psi_bins")]
    pub psi_bins: usize,
    /// ε: floor of each proportion in PSI.
    #[serde(default = "default_psi_epsilon", deserialize_with = "de_psi_epsilon")]
    pub psi_epsilon: f64,
    /// Categories kept per feature, by frequency; the rest share `__other__`.
    #[serde(
        default = "default_max_categories",
        deserialize_with = "de_max_categories"
    )]
    pub max_categories: usize,
    /// Feature kinds that inference would get wrong (e.g. numeric-looking codes).
    #[serde(default)]
    pub kinds: BTreeMap<String, FeatureKindName>,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            resolution: default_resolution(),
            psi_bins: default_psi_bins(),
            psi_epsilon: default_psi_epsilon(),
            max_categories: default_max_categories(),
            kinds: BTreeMap::new(),
        }
    }
}

impl ProfileConfig {
    pub fn settings(&self) -> ProfileSettings {
        ProfileSettings {
            resolution: self.resolution,
            psi_bins: self.psi_bins,
            max_categories: self.max_categories,
            kinds: self.kinds.clone(),
        }
    }
}

/// When `driftd report` calls a feature drifted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// A feature drifted when its PSI is at least this.
    #[serde(default = "default_psi_threshold", deserialize_with = "de_threshold")]
    pub psi_threshold: f64,
    /// Per-feature PSI thresholds that override `psi_threshold`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// α of the sample-size-aware PSI critical value reported next to PSI.
    #[serde(default = "default_alpha", deserialize_with = "de_alpha")]
    pub alpha: f64,
}

impl ReportConfig {
    pub fn settings(&self) -> ReportSettings {
        ReportSettings {
            psi_threshold: self.psi_threshold,
            thresholds: self.thresholds.clone(),
            alpha: self.alpha,
        }
    }
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            psi_threshold: default_psi_threshold(),
            thresholds: BTreeMap::new(),
            alpha: default_alpha(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    #[serde(default = "default_brokers", deserialize_with = "de_brokers")]
    pub brokers: Vec<String>,
    #[serde(default = "default_group_id", deserialize_with = "de_nonempty")]
    pub group_id: String,
    /// Records that do not decode are produced here with a reason header.
    #[serde(
        default = "default_dead_letter_topic",
        deserialize_with = "de_nonempty"
    )]
    pub dead_letter_topic: String,
    /// Passed to librdkafka unchanged (security.protocol, sasl.mechanism, ssl.*, …);
    /// secrets are refused here and go in `[kafka.secrets]`.
    #[serde(default, deserialize_with = "de_client_settings")]
    pub client: BTreeMap<String, String>,
    /// librdkafka settings whose values are secrets (`sasl.password`,
    /// `ssl.key.password`, …), each read from an environment variable or a file when
    /// a client is created, never logged.
    #[serde(default, deserialize_with = "de_client_secrets")]
    pub secrets: BTreeMap<String, SecretRef>,
}

/// librdkafka settings that hold secrets: refused in `[kafka.client]`, where they
/// would sit in the configuration file in clear.
pub(crate) const SECRET_CLIENT_KEYS: [&str; 5] = [
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
];

impl KafkaConfig {
    /// `[kafka.secrets]` read from their environment variables or files.
    pub(crate) fn read_secrets(&self) -> Result<Vec<(String, String)>, String> {
        self.secrets
            .iter()
            .map(|(k, r)| Ok((k.clone(), r.read(&format!("kafka.secrets.\"{k}\""))?)))
            .collect()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: default_brokers(),
            group_id: default_group_id(),
            dead_letter_topic: default_dead_letter_topic(),
            client: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The sled database directory (state, offsets).
    #[serde(default = "default_storage_path")]
    pub path: PathBuf,
    /// How often state and offsets are written to sled and offsets committed to Kafka.
    #[serde(
        default = "default_checkpoint_interval",
        deserialize_with = "de_checkpoint_interval"
    )]
    pub checkpoint_interval: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: default_storage_path(),
            checkpoint_interval: default_checkpoint_interval(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_http_bind")]
    pub bind: SocketAddr,
    /// Bearer token for the mutating endpoints (`POST /-/reload`,
    /// `POST /api/v1/models/{model}/retrain`); without it they answer 403.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: default_http_bind(),
            token: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub topic: Spanned<String>,
    pub role: SourceRole,
    /// Where each field lives in the record (JSON pointers).
    #[serde(default)]
    pub fields: FieldPaths,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates configuration text; the error names the key and line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> Result<(), String> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, source) in self.sources.iter().enumerate() {
            let topic = source.topic.get_ref().as_str();
            let line = line_of(text, source.topic.span().start);
            if topic.is_empty() {
                return Err(format!("line {line}: source[{i}].topic must not be empty"));
            }
            if topic == self.kafka.dead_letter_topic {
                return Err(format!(
                    "line {line}: source[{i}].topic `{topic}` is also kafka.dead_letter_topic; \
                     driftd would consume its own rejects"
                ));
            }
            if let Some(first) = seen.insert(topic, i) {
                return Err(format!(
                    "line {line}: source[{i}].topic `{topic}` is already source[{first}].topic"
                ));
            }
        }
        Ok(())
    }

    /// What window evaluations need from `[profile]` and `[report]`.
    pub(crate) fn evaluation_settings(&self) -> EvaluationSettings {
        EvaluationSettings {
            psi_epsilon: self.profile.psi_epsilon,
            report: self.report.settings(),
        }
    }

    /// The first predictions source: its field paths decode `--input` files.
    pub(crate) fn first_source(&self, role: SourceRole) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.role == role)
    }
}

fn default_resolution() -> usize {
    1000
}
fn default_psi_bins() -> usize {
    10
}
fn default_psi_epsilon() -> f64 {
    EvaluationSettings::default().psi_epsilon
}
fn default_max_categories() -> usize {
    100
}
fn default_psi_threshold() -> f64 {
    ReportSettings::default().psi_threshold
}
fn default_alpha() -> f64 {
    ReportSettings::default().alpha
}

fn de_ranged_usize<'de, D: Deserializer<'de>>(
    d: D,
    lo: usize,
    hi: usize,
) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if !(lo..=hi).contains(&v) {
        return Err(de::Error::custom(format!("{v} is outside {lo}..={hi}")));
    }
    Ok(v)
}
fn de_resolution<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    de_ranged_usize(d, 2, 100_000)
}
fn de_psi_bins<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    de_ranged_usize(d, 2, 1000)
}
fn de_max_categories<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    de_ranged_usize(d, 1, 100_000)
}
fn de_open_unit<'de, D: Deserializer<'de>>(d: D, what: &str) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(v > 0.0 && v < 1.0) {
        return Err(de::Error::custom(format!(
            "{what} {v} must be between 0 and 1, exclusive"
        )));
    }
    Ok(v)
}
fn de_psi_epsilon<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de_open_unit(d, "psi_epsilon")
}
fn de_alpha<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    de_open_unit(d, "alpha")
}
fn de_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(v.is_finite() && v > 0.0) {
        return Err(de::Error::custom(format!(
            "threshold {v} must be a positive number"
        )));
    }
    Ok(v)
}

fn default_brokers() -> Vec<String> {
    vec!["127.0.0.1:9092".to_string()]
}
fn default_group_id() -> String {
    "driftd".to_string()
}
fn default_dead_letter_topic() -> String {
    "driftd.dead-letter".to_string()
}
fn default_storage_path() -> PathBuf {
    PathBuf::from("./driftd-data")
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_http_bind() -> SocketAddr {
    // A constant that parses; covered by a unit test.
    DEFAULT_HTTP_BIND
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7853)))
}

fn de_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

fn de_brokers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let brokers = Vec::<String>::deserialize(d)?;
    if brokers.is_empty() {
        return Err(de::Error::custom(
            "list at least one broker, e.g. [\"kafka-1:9092\"]",
        ));
    }
    for b in &brokers {
        let ok = b
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(de::Error::custom(format!(
                "`{b}` is not host:port, e.g. \"kafka-1:9092\""
            )));
        }
    }
    Ok(brokers)
}

fn de_checkpoint_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let dur = parse_duration(&s).map_err(de::Error::custom)?;
    if dur < Duration::from_millis(100) || dur > Duration::from_secs(3600) {
        return Err(de::Error::custom(format!(
            "`{s}` is outside 100ms..1h: too short wears the disk, too long replays too much after a crash"
        )));
    }
    Ok(dur)
}

/// A librdkafka setting: TOML strings, integers, floats and booleans are all accepted
/// and passed on as strings, the way librdkafka takes them.
struct ClientValue(String);

impl<'de> Deserialize<'de> for ClientValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ClientValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn de_client_settings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, ClientValue>::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if MANAGED_CLIENT_KEYS.contains(&k.as_str()) {
            return Err(de::Error::custom(format!(
                "kafka.client.\"{k}\" is managed by driftd (use kafka.brokers / kafka.group_id; \
                 offsets are committed only after a checkpoint)"
            )));
        }
        if SECRET_CLIENT_KEYS.contains(&k.as_str()) {
            return Err(de::Error::custom(format!(
                "kafka.client.\"{k}\" is a secret and must not be written in the \
                 configuration: use [kafka.secrets] \"{k}\" = {{ env = \"VARIABLE\" }} \
                 (or {{ file = \"/path\" }})"
            )));
        }
        out.insert(k, v.0);
    }
    Ok(out)
}

fn de_client_secrets<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, SecretRef>, D::Error> {
    let map = BTreeMap::<String, SecretRef>::deserialize(d)?;
    for (k, r) in &map {
        if MANAGED_CLIENT_KEYS.contains(&k.as_str()) {
            return Err(de::Error::custom(format!(
                "kafka.secrets.\"{k}\" is managed by driftd"
            )));
        }
        if r.env.is_some() == r.file.is_some() {
            return Err(de::Error::custom(format!(
                "kafka.secrets.\"{k}\": set exactly one of `env` or `file`"
            )));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[[source]]\ntopic = \"predictions\"\nrole = \"predictions\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.kafka.group_id, "driftd");
        assert_eq!(c.http.bind.to_string(), DEFAULT_HTTP_BIND);
        assert_eq!(c.storage.checkpoint_interval, Duration::from_secs(5));
        assert_eq!(c.sources[0].fields.model.as_str(), "/model");
    }

    #[test]
    fn secrets_are_refused_in_the_client_table_and_read_from_env_or_file() {
        let text = format!(
            "[kafka.client]\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"hunter2\"\n{MINIMAL}"
        );
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("sasl.password") && err.contains("[kafka.secrets]"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let text = format!(
            "[kafka.secrets]\n\"sasl.password\" = {{ env = \"DRIFTD_TEST_UNSET_VARIABLE\" }}\n{MINIMAL}"
        );
        let c = Config::parse(&text).unwrap();
        let err = c.kafka.read_secrets().unwrap_err();
        assert!(
            err.contains("sasl.password") && err.contains("DRIFTD_TEST_UNSET_VARIABLE"),
            "{err}"
        );
        let text = format!("[kafka.secrets]\n\"ssl.key.password\" = {{ }}\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("exactly one") && err.contains("ssl.key.password"),
            "{err}"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = format!("[kafka]\nbrokerz = [\"a:1\"]\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("brokerz"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let text = format!("{MINIMAL}[storage]\ncheckpoint_interval = \"5x\"\n");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("line 5") && err.contains("checkpoint_interval"),
            "{err}"
        );

        let text = format!("[kafka]\nbrokers = [\"nohostport\"]\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("nohostport"),
            "{err}"
        );

        let text = "[[source]]\ntopic = \"p\"\nrole = \"predictionz\"\n";
        let err = Config::parse(text).unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("predictionz"),
            "{err}"
        );
    }

    #[test]
    fn managed_client_keys_are_refused() {
        let text = format!("[kafka.client]\n\"enable.auto.commit\" = true\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("enable.auto.commit"), "{err}");
        let text = format!(
            "[kafka.client]\n\"security.protocol\" = \"ssl\"\n\"fetch.min.bytes\" = 1\n{MINIMAL}"
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.kafka.client["fetch.min.bytes"], "1");
    }

    #[test]
    fn duplicate_topics_name_the_line() {
        let text = format!("{MINIMAL}[[source]]\ntopic = \"predictions\"\nrole = \"labels\"\n");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("line 5") && err.contains("source[1].topic"),
            "{err}"
        );
    }

    #[test]
    fn model_reference_modes() {
        let c = Config::parse("[models.churn]\nreference = \"previous:7d\"\n[models.fraud]\nreference = \"profile\"\n").unwrap();
        assert_eq!(
            c.rolling_reference("churn"),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(c.rolling_reference("fraud"), None);
        assert_eq!(c.rolling_reference("other"), None);
        let err = Config::parse("[models.churn]\nreference = \"last week\"\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("previous:"), "{err}");
    }

    #[test]
    fn reload_reports_what_needs_a_restart() {
        let old = Config::parse(MINIMAL).unwrap();
        let new = Config::parse(&format!(
            "{MINIMAL}[report]\npsi_threshold = 0.3\n[windows]\nwindows = [\"1h\"]\n"
        ))
        .unwrap();
        assert!(old.restart_only_changes(&new).is_empty());
        let new = Config::parse(&format!(
            "{MINIMAL}[http]\nbind = \"127.0.0.1:9\"\n[windows]\nbucket = \"5m\"\n"
        ))
        .unwrap();
        assert_eq!(
            old.restart_only_changes(&new),
            ["[http]", "[windows] bucket, tick and retentions"]
        );
    }
}
