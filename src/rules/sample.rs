//! What rules look at: one number per (model, version, window, feature, metric), with
//! the number of observations behind it, the reference value when there is one, and
//! the sample-size-aware PSI critical value. Built from a [`WindowReport`] in the
//! daemon and from input series in rule unit tests.

use std::collections::BTreeMap;

use crate::evaluate::WindowReport;
use crate::report::KindDrift;

pub use crate::stats::performance::PERFORMANCE_METRICS;

/// Metrics of a whole model (no `features` selector in a rule), besides the
/// [`PERFORMANCE_METRICS`].
pub const MODEL_METRICS: &[&str] = &[
    "events",
    "event_rate",
    "staleness_seconds",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "label_coverage",
    "unknown_feature_values",
];

/// A model metric, or a performance metric (also a model metric).
pub fn is_model_metric(metric: &str) -> bool {
    MODEL_METRICS.contains(&metric) || PERFORMANCE_METRICS.contains(&metric)
}

/// Metrics of one feature (a rule needs `features`); the model's prediction is the
/// feature `prediction`.
pub const FEATURE_METRICS: &[&str] = &[
    "psi",
    "js_distance",
    "ks_statistic",
    "ks_pvalue",
    "chi2_statistic",
    "chi2_pvalue",
    "wasserstein_normed",
    "missing_rate",
    "type_mismatch_rate",
    "out_of_range_rate",
    "unseen_rate",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub model: String,
    /// `None`: every version of the model merged.
    pub version: Option<String>,
    pub window: String,
    pub feature: Option<String>,
    pub metric: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub value: f64,
    /// Observations behind the value (compared with a rule's `min_samples`).
    pub samples: u64,
    /// The value in the reference (profile, rolling period, or `reference_metrics`).
    pub reference: Option<f64>,
    /// PSI only: the value sampling noise alone exceeds with probability α.
    pub critical: Option<f64>,
}

/// Every sample of one evaluation.
#[derive(Debug, Clone, Default)]
pub struct SampleSet(BTreeMap<SeriesKey, Sample>);

impl SampleSet {
    pub fn insert(&mut self, key: SeriesKey, sample: Sample) {
        self.0.insert(key, sample);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Sample)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every metric of a window report. `reference_metrics` are the model's
    /// configured reference values (e.g. validation accuracy), by metric name.
    pub fn add_report(&mut self, r: &WindowReport, reference_metrics: &BTreeMap<String, f64>) {
        let mut model = |metric: &str, value: Option<f64>, samples: u64| {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                self.0.insert(
                    SeriesKey {
                        model: r.model.clone(),
                        version: r.version.clone(),
                        window: r.window.clone(),
                        feature: None,
                        metric: metric.to_string(),
                    },
                    Sample {
                        value,
                        samples,
                        reference: reference_metrics.get(metric).copied(),
                        critical: None,
                    },
                );
            }
        };
        let p = &r.performance;
        let labelled = p.samples;
        model("events", Some(r.events as f64), r.events);
        model("event_rate", Some(r.event_rate), r.events);
        model("staleness_seconds", r.staleness_seconds, r.events);
        model("latency_p50_ms", r.latency_ms.p50, r.events);
        model("latency_p90_ms", r.latency_ms.p90, r.events);
        model("latency_p99_ms", r.latency_ms.p99, r.events);
        model("label_coverage", r.label_coverage, r.events);
        model(
            "unknown_feature_values",
            Some(r.unknown_feature_values as f64),
            r.events,
        );
        for (name, value) in p.named() {
            model(name, value, labelled);
        }

        let reference_rows = r.drift.reference.rows;
        for f in &r.drift.features {
            // Share of reference rows without a usable value: the reference's missing rate.
            let reference_missing = (reference_rows > 0).then(|| {
                reference_rows.saturating_sub(f.reference_count) as f64 / reference_rows as f64
            });
            let (critical, numeric, categorical) = match &f.detail {
                KindDrift::Numeric {
                    psi_critical_value,
                    ks_statistic,
                    ks_pvalue,
                    out_of_range_rate,
                    wasserstein_normed,
                    ..
                } => (
                    *psi_critical_value,
                    vec![
                        ("ks_statistic", *ks_statistic),
                        ("ks_pvalue", *ks_pvalue),
                        ("out_of_range_rate", Some(*out_of_range_rate)),
                        ("wasserstein_normed", *wasserstein_normed),
                    ],
                    vec![],
                ),
                KindDrift::Categorical {
                    chi2_statistic,
                    chi2_pvalue,
                    unseen_rate,
                    psi_critical_value,
                    ..
                } => (
                    *psi_critical_value,
                    vec![],
                    vec![
                        ("chi2_statistic", *chi2_statistic),
                        ("chi2_pvalue", *chi2_pvalue),
                        ("unseen_rate", Some(*unseen_rate)),
                    ],
                ),
                KindDrift::Unprofiled {} => continue,
            };
            let mut feature = |metric: &str, value: Option<f64>, samples, reference| {
                if let Some(value) = value.filter(|v: &f64| v.is_finite()) {
                    self.0.insert(
                        SeriesKey {
                            model: r.model.clone(),
                            version: r.version.clone(),
                            window: r.window.clone(),
                            feature: Some(f.name.clone()),
                            metric: metric.to_string(),
                        },
                        Sample {
                            value,
                            samples,
                            reference,
                            critical: (metric == "psi").then_some(critical).flatten(),
                        },
                    );
                }
            };
            feature("psi", f.psi, f.count, Some(0.0));
            feature("js_distance", f.js_distance, f.count, Some(0.0));
            feature(
                "missing_rate",
                Some(f.missing_rate),
                r.events,
                reference_missing,
            );
            feature(
                "type_mismatch_rate",
                Some(f.type_mismatch_rate),
                r.events,
                None,
            );
            for (metric, value) in numeric.into_iter().chain(categorical) {
                feature(metric, value, f.count, None);
            }
        }
    }
}
