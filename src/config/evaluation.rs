//! `[profile]`, `[report]`, `[windows]`, `[labels]` and `[models.*]`: how references
//! are built, when a feature counts as drifted, which windows are kept and evaluated,
//! how labels join.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::base::time::{parse_duration, Zone};
use crate::evaluate::deployment::{DeploymentKind, DeploymentMetric, DeploymentSettings};
use crate::evaluate::EvaluationSettings;
use crate::reference::{FeatureKindName, ProfileSettings};
use crate::report::ReportSettings;

use super::de_any_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// "profile" (the imported reference profile, the default) or `"previous:<period>"`,
    /// e.g. "previous:7d": each window is compared with the period just before it,
    /// in the imported profile's bins.
    #[serde(default, deserialize_with = "de_reference_mode")]
    pub reference: ReferenceMode,
    /// Reference values of metrics (e.g. the validation accuracy at training time),
    /// for rule conditions such as `< reference * 0.95`.
    #[serde(default, deserialize_with = "de_reference_metrics")]
    pub reference_metrics: BTreeMap<String, f64>,
    /// Scheduled retraining: a five-field cron expression or a nickname (e.g.
    /// "0 3 * * MON", "@daily"), read in `retrain_timezone`.
    #[serde(default, deserialize_with = "de_cron")]
    pub retrain_schedule: Option<CronText>,
    /// The zone of `retrain_schedule`: "UTC" (default), an offset or an IANA zone.
    #[serde(default = "Zone::utc")]
    pub retrain_timezone: Zone,
    /// Canary, shadow and A/B comparisons of this model's versions.
    #[serde(default)]
    pub deployments: Vec<DeploymentConfig>,
    /// What each outcome of this binary classifier is worth, for the
    /// `business_value` metrics.
    #[serde(default)]
    pub value: Option<OutcomeValueConfig>,
}

/// `[models.<m>.value]`: `tp = 40, fp = -5, fn = -100` (absent outcomes are worth 0).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeValueConfig {
    #[serde(default, deserialize_with = "de_finite")]
    pub tp: f64,
    #[serde(default, deserialize_with = "de_finite")]
    pub fp: f64,
    #[serde(default, deserialize_with = "de_finite")]
    pub tn: f64,
    #[serde(default, rename = "fn", deserialize_with = "de_finite")]
    pub fn_: f64,
}

impl OutcomeValueConfig {
    pub fn settings(&self) -> crate::stats::performance::OutcomeValues {
        crate::stats::performance::OutcomeValues {
            tp: self.tp,
            fp: self.fp,
            tn: self.tn,
            fn_: self.fn_,
        }
    }
}

fn de_finite<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() {
        return Err(de::Error::custom("must be a finite number"));
    }
    Ok(v)
}

/// `[[models.<m>.deployments]]`: a candidate version compared with a baseline version
/// on labelled outcomes, with an always-valid verdict (docs/deployments.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    pub name: String,
    pub kind: DeploymentKind,
    /// Version glob of the baseline (`"v1"`, `"v1.*"`).
    pub baseline: String,
    /// Version glob of the candidate; a version in both counts for the candidate.
    pub candidate: String,
    /// The metrics that decide (default accuracy).
    #[serde(default = "default_deployment_metrics")]
    pub metrics: Vec<DeploymentMetric>,
    /// The smallest worsening that matters, in the metric's units.
    #[serde(deserialize_with = "de_positive")]
    pub min_effect: f64,
    /// The error rate of each verdict.
    #[serde(
        default = "default_deployment_alpha",
        deserialize_with = "de_probability"
    )]
    pub alpha: f64,
    /// 1 − the power the planned sample size is chosen for.
    #[serde(default = "default_beta", deserialize_with = "de_probability")]
    pub beta: f64,
    /// Labelled outcomes each arm needs before any verdict.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// The candidate sample size the sequence is tightest at (default: the
    /// fixed-horizon size for `min_effect` at a proportion's largest variance).
    #[serde(default, deserialize_with = "de_planned")]
    pub planned_samples: Option<f64>,
    /// The window compared: one of `[windows] windows` (default the longest).
    #[serde(default)]
    pub window: Option<String>,
}

fn default_deployment_metrics() -> Vec<DeploymentMetric> {
    vec![DeploymentMetric::Accuracy]
}

fn default_deployment_alpha() -> f64 {
    0.05
}

fn default_beta() -> f64 {
    0.2
}

fn default_min_samples() -> u64 {
    200
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(de::Error::custom(format!("{v} must be a positive number")))
    }
}

fn de_probability<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v < 0.5 {
        Ok(v)
    } else {
        Err(de::Error::custom(format!(
            "{v} must be between 0 and 0.5 (exclusive)"
        )))
    }
}

fn de_planned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    de_positive(d).map(Some)
}

impl DeploymentConfig {
    /// What the evaluation uses; `windows` resolves the window (validated at load).
    pub fn settings(&self, windows: &WindowsConfig) -> Option<DeploymentSettings> {
        let (name, length) = match &self.window {
            Some(w) => (w.clone(), windows.window(w)?),
            None => windows
                .windows
                .iter()
                .max_by_key(|(_, d)| *d)
                .map(|(n, d)| (n.clone(), *d))?,
        };
        Some(DeploymentSettings {
            name: self.name.clone(),
            kind: self.kind,
            baseline: self.baseline.clone(),
            candidate: self.candidate.clone(),
            metrics: self.metrics.clone(),
            alpha: self.alpha,
            beta: self.beta,
            min_effect: self.min_effect,
            min_samples: self.min_samples,
            planned_samples: self.planned_samples,
            window: (name, length.as_millis() as i64),
        })
    }
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
    // The zone does not change what parses.
    crate::retrain::CronSchedule::parse(&s, Zone::utc()).map_err(de::Error::custom)?;
    Ok(Some(CronText(s)))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReferenceMode {
    #[default]
    Profile,
    Previous(Duration),
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
            shadows: Default::default(),
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

/// Reference profile settings (bins: docs/statistics.md).
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
