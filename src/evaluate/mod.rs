//! Windows → statistics: merge a model's buckets over a window and compute the same
//! per-feature report as `driftd report`, plus event rate, staleness and latency.
//! Pure: a [`WindowState`], profiles and a `now` in, [`WindowReport`] out. The daemon
//! calls it every tick (for the metrics) and the HTTP API on request.
//!
//! - [`policy`]: which windows each tick evaluates
//! - [`pictures`]: what the HTML report and alert e-mails draw of a window
//! - [`deployment`]: canary / shadow / A/B verdicts from each version's window

use serde::Serialize;

pub mod deployment;
pub mod pictures;
pub mod policy;

pub use policy::{plan, Evaluation};

use crate::reference::ReferenceProfile;
use crate::report::{
    feature_drift, DriftReport, FeatureStatistic, ReportSettings, FEATURE_STATISTICS,
};
use crate::stats::fairness::FAIRNESS_METRICS;
use crate::stats::performance::{PerformanceMetrics, PERFORMANCE_METRICS};
use crate::window::{
    Bucket, BucketReadError, ProfileSet, StoredBuckets, Tier, WindowMemory, WindowState,
};

/// One window of one model (one version, or every version merged).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WindowReport {
    pub model: String,
    /// `None`: every version of the model.
    pub version: Option<String>,
    pub window: String,
    pub window_seconds: f64,
    /// Evaluation time, ms since the epoch.
    pub evaluated_at_ms: i64,
    pub events: u64,
    /// Events per second over the window.
    pub event_rate: f64,
    /// Seconds since the newest event of the model (any window), at evaluation time.
    pub staleness_seconds: Option<f64>,
    pub latency_ms: LatencySummary,
    /// Values of features the reference profile does not know.
    pub unknown_feature_values: u64,
    /// Their most frequent names since the daemon started (a bounded summary).
    pub unknown_feature_names: Vec<crate::window::UnknownName>,
    /// The reference profile (its bins, and its counts unless rolling).
    pub profile_id: Option<String>,
    /// "profile": the imported profile's counts; "rolling": the period before the
    /// window (`[models.<name>] reference = "previous:…"`).
    #[serde(rename = "reference_mode")]
    pub reference: &'static str,
    /// Predictions of the window whose labels have arrived.
    pub labelled: u64,
    /// labelled / events.
    pub label_coverage: Option<f64>,
    pub performance: PerformanceMetrics,
    /// Performance per value of `[labels] segment_key`.
    pub performance_by_segment: std::collections::BTreeMap<String, PerformanceMetrics>,
    /// Gaps between the segments of a binary classifier (the segment key as the
    /// sensitive attribute; `__other__` left out), with at least two segments.
    pub fairness: Option<crate::stats::fairness::FairnessReport>,
    /// The report shape of `driftd report --format json` (docs/statistics.md):
    /// `reference`, `current`, `features`, `drifted`.
    #[serde(flatten)]
    pub drift: DriftReport,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LatencySummary {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

/// Everything the window computations need besides the state.
#[derive(Debug, Clone)]
pub struct EvaluationSettings {
    /// ε: floor of each proportion in PSI (`[profile] psi_epsilon`).
    pub psi_epsilon: f64,
    pub report: ReportSettings,
    /// `[models.<m>.value]` by model.
    pub outcome_values:
        std::collections::BTreeMap<String, crate::stats::performance::OutcomeValues>,
}

impl Default for EvaluationSettings {
    /// The defaults of `[profile] psi_epsilon` and `[report]`.
    fn default() -> Self {
        EvaluationSettings {
            psi_epsilon: crate::stats::psi::DEFAULT_EPSILON,
            report: ReportSettings::default(),
            outcome_values: Default::default(),
        }
    }
}

/// What a window evaluation needs from the state, taken under its lock.
#[derive(Debug, Clone)]
pub(crate) struct WindowBuckets {
    /// The merge of the window's buckets.
    pub current: Bucket,
    /// With a rolling reference (`previous:P`): the merge of the period P before the
    /// window, measured in the same bins.
    pub reference: Option<Bucket>,
    /// Newest event time of the model (any window).
    pub newest_event_ms: i64,
    /// The model's most frequent unknown feature names.
    pub unknown_names: Vec<crate::window::UnknownName>,
}

/// The merged buckets of a window (under the state's lock); the statistics are
/// computed afterwards by [`window_report`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn window_bucket(
    state: &mut WindowState,
    profiles: &ProfileSet,
    model: &str,
    version: Option<&str>,
    window_ms: i64,
    rolling_reference_ms: Option<i64>,
    now_ms: i64,
    memory: &WindowMemory,
    stored: &dyn StoredBuckets,
) -> Result<WindowBuckets, BucketReadError> {
    let profile = profiles
        .get(model, version.unwrap_or(""))
        .map(|p| &p.profile);
    let current = state.window(model, version, profile, window_ms, now_ms, memory, stored)?;
    // Buckets start at or after `now − window` belong to the window; the reference is
    // the period just before it.
    let reference = match rolling_reference_ms {
        Some(p) => Some(state.sum_between(
            model,
            version,
            profile,
            (window_ms + p, window_ms + 1),
            now_ms,
            memory,
            stored,
        )?),
        None => None,
    };
    Ok(WindowBuckets {
        current,
        reference,
        newest_event_ms: state.newest_event_ms(model, version),
        unknown_names: state.unknown_names(model),
    })
}

/// The profile a window is measured against (when its buckets use that profile's
/// bins) and, with a rolling reference, the buckets that stand for the reference.
pub(crate) fn window_profile<'a>(
    buckets: &'a WindowBuckets,
    profiles: &'a ProfileSet,
    model: &str,
    version: Option<&str>,
) -> (Option<&'a ReferenceProfile>, Option<&'a Bucket>) {
    let bucket = &buckets.current;
    let profile = profiles
        .get(model, version.unwrap_or(""))
        .map(|p| &p.profile)
        .filter(|p| bucket.profile_id.as_ref() == Some(&p.id));
    let rolling = buckets
        .reference
        .as_ref()
        .filter(|r| r.profile_id == bucket.profile_id);
    (profile, rolling)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn window_report(
    buckets: &WindowBuckets,
    profiles: &ProfileSet,
    model: &str,
    version: Option<&str>,
    window: (&str, i64),
    now_ms: i64,
    settings: &EvaluationSettings,
) -> WindowReport {
    let bucket = &buckets.current;
    let newest_event_ms = buckets.newest_event_ms;
    let (profile, rolling) = window_profile(buckets, profiles, model, version);
    let features = profile
        .map(|p| {
            p.features
                .iter()
                .enumerate()
                .zip(&bucket.features)
                .map(|((i, f), c)| {
                    let rolled = rolling.map(|r| f.with_reference_counts(&r.features[i]));
                    feature_drift(
                        rolled.as_ref().unwrap_or(f),
                        c,
                        bucket.events,
                        true,
                        settings.psi_epsilon,
                        &settings.report,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let reference_rows = match rolling {
        Some(r) => r.events,
        None => profile.map(|p| p.rows).unwrap_or(0),
    };
    let window_seconds = window.1 as f64 / 1000.0;
    let values = settings.outcome_values.get(model);
    WindowReport {
        model: model.to_string(),
        version: version.map(str::to_string),
        window: window.0.to_string(),
        window_seconds,
        evaluated_at_ms: now_ms,
        events: bucket.events,
        event_rate: bucket.events as f64 / window_seconds,
        staleness_seconds: (newest_event_ms != i64::MIN)
            .then(|| ((now_ms - newest_event_ms) as f64 / 1000.0).max(0.0)),
        latency_ms: LatencySummary {
            p50: bucket.latency.quantile(0.5),
            p90: bucket.latency.quantile(0.9),
            p99: bucket.latency.quantile(0.99),
        },
        unknown_feature_values: bucket.unknown_features,
        unknown_feature_names: buckets.unknown_names.clone(),
        profile_id: profile.map(|p| p.id.clone()),
        labelled: bucket.performance.n,
        label_coverage: (bucket.events > 0)
            .then(|| (bucket.performance.n as f64 / bucket.events as f64).min(1.0)),
        performance: bucket.performance.metrics_valued(values),
        performance_by_segment: bucket
            .performance_by_segment
            .iter()
            .map(|(k, v)| (k.clone(), v.metrics_valued(values)))
            .collect(),
        fairness: segment_fairness(bucket, settings.report.alpha),
        reference: match rolling {
            Some(_) => "rolling",
            None => "profile",
        },
        drift: DriftReport::new(reference_rows, bucket.events, features),
    }
}

/// Fairness across the segments of a bucket: each segment's confusion counts (binary
/// classifiers), the capped remainder (`__other__`, a mix of groups) left out.
fn segment_fairness(bucket: &Bucket, alpha: f64) -> Option<crate::stats::fairness::FairnessReport> {
    let groups: Vec<(String, crate::stats::fairness::GroupCounts)> = bucket
        .performance_by_segment
        .iter()
        .filter(|(segment, _)| segment.as_str() != crate::stats::histogram::OTHER)
        .filter_map(|(segment, p)| {
            let b = p.binary.as_ref()?;
            Some((
                segment.clone(),
                crate::stats::fairness::GroupCounts {
                    tp: b.tp,
                    fp: b.fp,
                    tn: b.tn,
                    fn_: b.fn_,
                },
            ))
        })
        .collect();
    crate::stats::fairness::fairness(&groups, alpha)
}

/// Read access to the live windows, for the tick and the HTTP API; implemented by
/// the ingest pipeline behind its lock.
pub(crate) trait WindowSource: Send + Sync {
    /// (model, version) pairs with data.
    fn series(&self) -> std::collections::BTreeSet<(String, String)>;
    /// [`window_bucket`] under the lock.
    fn window(
        &self,
        model: &str,
        version: Option<&str>,
        window_ms: i64,
        rolling_reference_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<WindowBuckets, BucketReadError>;
    fn profiles(&self) -> std::sync::Arc<ProfileSet>;
    /// Folds aged buckets into coarser tiers.
    fn compact(&self, now_ms: i64);
    /// [`WindowState::buckets_between`] under the lock, with the bucket widths.
    fn history_buckets(
        &self,
        model: &str,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(Tier, i64, i64, Bucket)>, BucketReadError>;
}

/// One bucket's value of a metric.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub start_ms: i64,
    pub width_seconds: f64,
    pub tier: &'static str,
    pub events: u64,
    pub value: Option<f64>,
}

/// One statistic of a whole model, read from a window report: the one list that
/// rule model metrics and the history API both use.
pub(crate) struct ModelStatistic {
    pub name: &'static str,
    pub value: fn(&WindowReport) -> Option<f64>,
}

/// Model statistics besides the [`PERFORMANCE_METRICS`]; every one is backed by the
/// window's events.
pub(crate) const MODEL_STATISTICS: &[ModelStatistic] = &[
    ModelStatistic {
        name: "events",
        value: |r| Some(r.events as f64),
    },
    ModelStatistic {
        name: "event_rate",
        value: |r| Some(r.event_rate),
    },
    ModelStatistic {
        name: "staleness_seconds",
        value: |r| r.staleness_seconds,
    },
    ModelStatistic {
        name: "latency_p50_ms",
        value: |r| r.latency_ms.p50,
    },
    ModelStatistic {
        name: "latency_p90_ms",
        value: |r| r.latency_ms.p90,
    },
    ModelStatistic {
        name: "latency_p99_ms",
        value: |r| r.latency_ms.p99,
    },
    ModelStatistic {
        name: "label_coverage",
        value: |r| r.label_coverage,
    },
    ModelStatistic {
        name: "unknown_feature_values",
        value: |r| Some(r.unknown_feature_values as f64),
    },
];

/// Names of the model statistics, then of the performance metrics.
pub(crate) fn model_metric_names() -> Vec<&'static str> {
    MODEL_STATISTICS
        .iter()
        .map(|s| s.name)
        .chain(PERFORMANCE_METRICS.iter().map(|m| m.name))
        .chain(FAIRNESS_METRICS.iter().map(|(name, _)| *name))
        .collect()
}

/// A fairness gap of a report by name.
pub(crate) fn fairness_metric(r: &WindowReport, metric: &str) -> Option<f64> {
    let (_, gap) = FAIRNESS_METRICS.iter().find(|(name, _)| *name == metric)?;
    gap(r.fairness.as_ref()?).map(|g| g.value)
}

/// The value of a model statistic or performance metric in a report.
pub(crate) fn model_metric(r: &WindowReport, metric: &str) -> Option<f64> {
    match MODEL_STATISTICS.iter().find(|s| s.name == metric) {
        Some(s) => (s.value)(r),
        None => match PERFORMANCE_METRICS.iter().find(|m| m.name == metric) {
            Some(m) => (m.value)(&r.performance),
            None => fairness_metric(r, metric),
        },
    }
}

/// One feature statistic of a bucket (or of merged buckets) against the profile's
/// reference; `None` when the bucket uses another profile's bins or none.
pub(crate) fn bucket_statistic(
    bucket: &Bucket,
    profile: &ReferenceProfile,
    feature: usize,
    stat: &FeatureStatistic,
    settings: &EvaluationSettings,
) -> Option<f64> {
    if bucket.profile_id.as_ref() != Some(&profile.id) {
        return None;
    }
    let drift = feature_drift(
        &profile.features[feature],
        &bucket.features[feature],
        bucket.events,
        true,
        settings.psi_epsilon,
        &settings.report,
    );
    (stat.value)(&drift)
}

/// The value of `metric` (of `feature`, when given) in each bucket, oldest first: the
/// same computation as a window, applied to one bucket at a time (evaluated at the
/// bucket's end). Feature metrics are the [`FEATURE_STATISTICS`], model metrics
/// [`model_metric_names`].
pub fn history(
    model: &str,
    buckets: &[(Tier, i64, i64, Bucket)],
    profile: Option<&crate::reference::ReferenceProfile>,
    metric: &str,
    feature: Option<&str>,
    settings: &EvaluationSettings,
) -> Result<Vec<HistoryPoint>, String> {
    let feature_stat = match feature {
        Some(name) => {
            let p = profile.ok_or("the model has no reference profile")?;
            let i = p
                .features
                .iter()
                .position(|f| f.name == name)
                .ok_or_else(|| format!("the reference profile has no feature `{name}`"))?;
            let stat = FeatureStatistic::named(metric).ok_or_else(|| {
                format!(
                    "unknown feature metric `{metric}`; feature metrics are {}",
                    FEATURE_STATISTICS
                        .iter()
                        .map(|s| s.field)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            Some((i, p, stat))
        }
        None if model_metric_names().contains(&metric) => None,
        None => {
            return Err(format!(
                "`{metric}` needs a feature; model metrics are {}",
                model_metric_names().join(", ")
            ))
        }
    };
    let no_profiles = ProfileSet::default();
    Ok(buckets
        .iter()
        .map(|(tier, start, width, b)| {
            let value = match feature_stat {
                Some((i, p, stat)) => bucket_statistic(b, p, i, stat, settings),
                None => {
                    let one = WindowBuckets {
                        current: b.clone(),
                        reference: None,
                        newest_event_ms: b.last_event_ms,
                        unknown_names: Vec::new(),
                    };
                    let end = start + width;
                    let r =
                        window_report(&one, &no_profiles, model, None, ("", *width), end, settings);
                    model_metric(&r, metric)
                }
            };
            HistoryPoint {
                start_ms: *start,
                width_seconds: *width as f64 / 1000.0,
                tier: tier.name(),
                events: b.events,
                value,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Cell;
    use crate::event::{FeatureValue, PredictionRecord};
    use crate::reference::{test_profile, ReferenceProfile};
    use crate::window::{IndexedProfile, WindowSettings};

    fn profile() -> ReferenceProfile {
        test_profile(
            "v",
            &["x"],
            (0..1000).map(|i| vec![Cell::Number((i % 100) as f64)]),
        )
    }

    fn record(ts_ms: i64, x: f64) -> PredictionRecord {
        PredictionRecord {
            model: "m".into(),
            version: "v".into(),
            id: None,
            ts_ms,
            features: vec![("x".into(), FeatureValue::Number(x))],
            prediction: None,
            latency_ms: None,
            segment: vec![],
        }
    }

    #[test]
    fn rolling_reference_is_the_period_before_the_window() {
        let profiles = ProfileSet::new(vec![profile()]);
        let p: &IndexedProfile = profiles.get("m", "v").unwrap();
        let settings = WindowSettings::default();
        let now = 1_000 * 3_600_000;
        let mut state = WindowState::default();
        // 10..5 minutes ago: values 50..99 (the rolling reference); last 5 minutes: the
        // same; the imported profile has 0..99.
        for i in 0..600 {
            let ts = now - 600_000 + i * 1000;
            state.observe(
                &record(ts, (50 + i % 50) as f64),
                Some(p),
                &settings,
                now,
                &crate::window::NoStoredBuckets,
            );
        }
        let eval = EvaluationSettings::default();
        let mut run = |rolling: Option<i64>| {
            let b = window_bucket(
                &mut state,
                &profiles,
                "m",
                Some("v"),
                300_000,
                rolling,
                now,
                &WindowMemory::default(),
                &crate::window::NoStoredBuckets,
            )
            .unwrap();
            window_report(&b, &profiles, "m", Some("v"), ("5m", 300_000), now, &eval)
        };
        let against_profile = run(None);
        let rolling = run(Some(300_000));
        assert_eq!(against_profile.reference, "profile");
        assert_eq!(rolling.reference, "rolling");
        assert_eq!(
            rolling.drift.reference.rows, 300,
            "the 5 minutes before the window"
        );
        assert_eq!(rolling.events, 300);
        let psi = |r: &WindowReport| r.drift.features[0].psi.unwrap();
        assert!(
            psi(&against_profile) > 0.5,
            "half the profile's range: drift"
        );
        assert!(
            psi(&rolling) < 0.05,
            "same as the previous period: no drift"
        );
    }
}
