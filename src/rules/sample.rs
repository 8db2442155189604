//! What rules look at: one number per (model, version, window, feature, metric), with
//! the number of observations behind it, the reference value when there is one, and
//! the sample-size-aware PSI critical value. Built from a [`WindowReport`] in the
//! daemon and from input series in rule unit tests.

use std::collections::BTreeMap;

use crate::evaluate::{WindowReport, MODEL_STATISTICS};
use crate::report::statistics::{Observations, Reference, FEATURE_STATISTICS};
use crate::report::KindDrift;

/// Metrics of a whole model (no `features` selector in a rule): the model
/// statistics, then the performance metrics.
pub(crate) fn model_metrics() -> Vec<&'static str> {
    crate::evaluate::model_metric_names()
}

/// A model metric, or a performance metric (also a model metric).
pub(crate) fn is_model_metric(metric: &str) -> bool {
    model_metrics().contains(&metric)
}

/// Metrics of one deployment (a rule needs `deployments`): its verdict as a number,
/// 1 promote, 0 continue, −1 rollback, over the deployment's own window.
pub(crate) const DEPLOYMENT_METRICS: &[&str] = &["deployment_verdict"];

/// Metrics of one feature (a rule needs `features`); the model's prediction is the
/// feature `prediction`. The rule metrics of [`FEATURE_STATISTICS`].
pub(crate) fn feature_metrics() -> Vec<&'static str> {
    crate::report::statistics::rule_metrics().collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub model: String,
    /// `None`: every version of the model merged.
    pub version: Option<String>,
    pub window: String,
    pub feature: Option<String>,
    /// `Some`: a deployment metric of this `[[models.<m>.deployments]]` entry.
    pub deployment: Option<String>,
    /// `Some`: a performance metric of this value of `[labels] segment_key`.
    pub segment: Option<String>,
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
    /// A version-relative sample (a rule with `deployments`): the same statistic of
    /// the deployment's baseline arm over the same window (`< baseline * 0.97`).
    pub baseline: Option<f64>,
}

/// Every sample of one evaluation.
#[derive(Debug, Clone, Default)]
pub(crate) struct SampleSet {
    samples: BTreeMap<SeriesKey, Sample>,
    /// `Some`: only these (window, metric) pairs, the ones the rules use — a fleet's
    /// tick would otherwise build ~250,000 samples no rule reads.
    wanted: Option<std::collections::BTreeSet<(String, String)>>,
}

impl SampleSet {
    /// A set that keeps only the samples of these (window, metric) pairs.
    pub fn only(wanted: std::collections::BTreeSet<(String, String)>) -> SampleSet {
        SampleSet {
            samples: BTreeMap::new(),
            wanted: Some(wanted),
        }
    }

    fn wants(&self, window: &str, metric: &str) -> bool {
        self.wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|(win, m)| win == window && m == metric))
    }

    pub fn insert(&mut self, key: SeriesKey, sample: Sample) {
        self.samples.insert(key, sample);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Sample)> {
        self.samples.iter()
    }

    /// Adds every metric of a window report. `reference_metrics` are the model's
    /// configured reference values (e.g. validation accuracy), by metric name.
    pub(crate) fn add_report(
        &mut self,
        r: &WindowReport,
        reference_metrics: &BTreeMap<String, f64>,
    ) {
        // One model metric, of the whole model or of one segment.
        let mut model_of =
            |segment: Option<&String>, metric: &str, value: Option<f64>, samples: u64| {
                if !self.wants(&r.window, metric) {
                    return;
                }
                if let Some(value) = value.filter(|v| v.is_finite()) {
                    self.samples.insert(
                        SeriesKey {
                            model: r.model.clone(),
                            version: r.version.clone(),
                            window: r.window.clone(),
                            feature: None,
                            deployment: None,
                            segment: segment.cloned(),
                            metric: metric.to_string(),
                        },
                        Sample {
                            value,
                            samples,
                            reference: reference_metrics.get(metric).copied(),
                            critical: None,
                            baseline: None,
                        },
                    );
                }
            };
        let mut model =
            |metric: &str, value: Option<f64>, samples: u64| model_of(None, metric, value, samples);
        for s in MODEL_STATISTICS {
            model(s.name, (s.value)(r), r.events);
        }
        for (name, value) in r.performance.named() {
            model(name, value, r.performance.samples);
        }
        for (segment, p) in &r.performance_by_segment {
            for (name, value) in p.named() {
                model_of(Some(segment), name, value, p.samples);
            }
        }
        // Gaps between groups: as many observations as the smallest group has.
        if let Some(f) = &r.fairness {
            for (name, gap) in crate::stats::fairness::FAIRNESS_METRICS {
                model_of(None, name, gap(f).map(|g| g.value), f.smallest_group);
            }
        }

        let reference_rows = r.drift.reference.rows;
        for f in &r.drift.features {
            if matches!(f.detail, KindDrift::Unprofiled {}) {
                continue;
            }
            let critical = f.psi_critical_value();
            for s in FEATURE_STATISTICS.iter().filter(|s| s.rule) {
                if !self.wants(&r.window, s.field) {
                    continue;
                }
                let Some(value) = (s.value)(f).filter(|v| v.is_finite()) else {
                    continue;
                };
                let reference = match s.reference {
                    Reference::Zero => Some(0.0),
                    // Share of reference rows without a usable value.
                    Reference::MissingRate => (reference_rows > 0).then(|| {
                        reference_rows.saturating_sub(f.reference_count) as f64
                            / reference_rows as f64
                    }),
                    Reference::None => None,
                };
                self.samples.insert(
                    SeriesKey {
                        model: r.model.clone(),
                        version: r.version.clone(),
                        window: r.window.clone(),
                        feature: Some(f.name.clone()),
                        deployment: None,
                        segment: None,
                        metric: s.field.to_string(),
                    },
                    Sample {
                        value,
                        samples: match s.observations {
                            Observations::Present => f.count,
                            Observations::Rows => r.events,
                        },
                        reference,
                        critical: if s.critical { critical } else { None },
                        baseline: None,
                    },
                );
            }
        }
    }

    /// Adds every metric of a deployment's candidate arm against its baseline arm
    /// over one window (version-relative rules): the candidate's value, with the
    /// baseline's as [`Sample::baseline`] and the smaller arm's observations as its
    /// samples, keyed by the deployment (no version).
    pub(crate) fn add_relative(
        &mut self,
        deployment: &str,
        arms: &crate::evaluate::deployment::ArmReports,
        reference_metrics: &BTreeMap<String, f64>,
    ) {
        let of = |r: &WindowReport| {
            let mut set = SampleSet {
                samples: BTreeMap::new(),
                wanted: self.wanted.clone(),
            };
            set.add_report(r, reference_metrics);
            set.samples
        };
        let baseline = of(&arms.baseline);
        for (mut key, s) in of(&arms.candidate) {
            let Some(b) = baseline.get(&key) else {
                continue;
            };
            key.deployment = Some(deployment.to_string());
            self.samples.insert(
                key,
                Sample {
                    samples: s.samples.min(b.samples),
                    baseline: Some(b.value),
                    ..s
                },
            );
        }
    }

    /// Adds the verdict of every deployment (model, report), over the deployment's
    /// window; its samples are the smaller arm's labelled outcomes.
    pub(crate) fn add_deployments(
        &mut self,
        reports: &[(String, crate::evaluate::deployment::DeploymentReport)],
    ) {
        for (model, r) in reports {
            if !self.wants(&r.window, "deployment_verdict") {
                continue;
            }
            let samples = r
                .metrics
                .iter()
                .map(|m| m.baseline.samples.min(m.candidate.samples))
                .min()
                .unwrap_or(0);
            self.samples.insert(
                SeriesKey {
                    model: model.clone(),
                    version: None,
                    window: r.window.clone(),
                    feature: None,
                    deployment: Some(r.deployment.clone()),
                    segment: None,
                    metric: "deployment_verdict".to_string(),
                },
                Sample {
                    value: crate::evaluate::deployment::verdict_score(r.verdict),
                    samples,
                    reference: None,
                    critical: None,
                    baseline: None,
                },
            );
        }
    }
}
