//! Canary, shadow and A/B deployments: a candidate version's performance against its
//! baseline's over one window, with a verdict that stays valid when it is looked at
//! every tick ([`crate::stats::sequential`]). Pure: each version's performance counts
//! in, a [`DeploymentReport`] out.

use serde::{Deserialize, Serialize};

use crate::stats::performance::PerformanceCounts;
use crate::stats::sequential::{
    compare, fixed_horizon_samples, MetricKind, Moments, SequentialSettings,
};
use crate::stats::shadow::PairCounts;

/// How the candidate gets its traffic (reported with the verdict; the statistics are
/// the same: two independent samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentKind {
    /// A share of the traffic goes to the candidate.
    Canary,
    /// The candidate scores requests without serving them.
    Shadow,
    /// Traffic split between two models on purpose.
    Ab,
}

/// A metric a deployment is decided on, from the labelled outcomes of each version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentMetric {
    /// Share of classified predictions that were right; higher is better.
    Accuracy,
    /// Mean absolute error of a regressor; lower is better.
    Mae,
}

impl DeploymentMetric {
    pub fn name(self) -> &'static str {
        match self {
            DeploymentMetric::Accuracy => "accuracy",
            DeploymentMetric::Mae => "mae",
        }
    }

    fn kind(self) -> MetricKind {
        match self {
            DeploymentMetric::Accuracy => MetricKind::Proportion,
            DeploymentMetric::Mae => MetricKind::Mean,
        }
    }

    fn higher_is_better(self) -> bool {
        self == DeploymentMetric::Accuracy
    }

    /// The outcomes behind the metric, as sums that merge.
    fn moments(self, p: &PerformanceCounts) -> Moments {
        match self {
            DeploymentMetric::Accuracy => Moments::proportion(p.correct, p.classified),
            DeploymentMetric::Mae => p
                .regression
                .as_ref()
                .map(|r| Moments {
                    n: r.n,
                    sum: r.abs_error,
                    sum_sq: r.sq_error,
                })
                .unwrap_or_default(),
        }
    }
}

/// One deployment as configured (`[[models.<m>.deployments]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSettings {
    pub name: String,
    pub kind: DeploymentKind,
    /// Version globs of each arm.
    pub baseline: String,
    pub candidate: String,
    pub metrics: Vec<DeploymentMetric>,
    pub alpha: f64,
    pub beta: f64,
    pub min_effect: f64,
    pub min_samples: u64,
    /// The candidate sample size the sequence is tightest at; by default the
    /// fixed-horizon size for `min_effect` at the largest variance of a proportion.
    pub planned_samples: Option<f64>,
    /// The window compared (its name and length).
    pub window: (String, i64),
}

impl DeploymentSettings {
    fn sequential(&self, metric: DeploymentMetric) -> SequentialSettings {
        SequentialSettings {
            alpha: self.alpha,
            min_effect: self.min_effect,
            higher_is_better: metric.higher_is_better(),
            min_samples: self.min_samples,
            planned_samples: self.planned_samples.unwrap_or_else(|| {
                fixed_horizon_samples(self.alpha, self.beta, self.min_effect, 0.25, 0.25, 1.0)
            }),
        }
    }
}

/// One arm of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arm {
    pub samples: u64,
    pub value: Option<f64>,
}

/// The evidence on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricVerdict {
    pub metric: &'static str,
    pub baseline: Arm,
    pub candidate: Arm,
    /// Candidate − baseline, and its always-valid interval; `None` while an arm has
    /// no outcomes.
    pub difference: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// `promote`, `rollback` or `continue`.
    pub verdict: &'static str,
}

/// A deployment at one look: which versions are in each arm and a verdict per metric;
/// `verdict` is `rollback` if any metric says so, else `promote` when all do, else
/// `continue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentReport {
    pub deployment: String,
    pub kind: DeploymentKind,
    pub window: String,
    pub baseline_versions: Vec<String>,
    pub candidate_versions: Vec<String>,
    pub metrics: Vec<MetricVerdict>,
    pub verdict: &'static str,
    /// A shadow deployment's pairs of (live, shadow) predictions of the same requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowReport>,
}

/// How a shadow version compares with the live one on the same requests, over the
/// deployment's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    /// Requests both predicted; of those, the ones where both decided a class.
    pub pairs: u64,
    pub decided: u64,
    /// Share of decided pairs where both decided the same class, with its 95 %
    /// Wilson interval.
    pub agreement: Option<f64>,
    pub agreement_low: Option<f64>,
    pub agreement_high: Option<f64>,
    /// Upper bounds of the median and 90th percentile of |shadow − live| score.
    pub score_difference_p50: Option<f64>,
    pub score_difference_p90: Option<f64>,
    /// Share of scored pairs where the shadow scored higher.
    pub shadow_higher: Option<f64>,
    /// Pairs whose label arrived; of those, where only the live version was right,
    /// only the shadow, and both (regressors: the smaller error is right).
    pub labelled: u64,
    pub live_only_right: u64,
    pub shadow_only_right: u64,
    pub both_right: u64,
}

impl ShadowReport {
    pub fn from_counts(c: &crate::stats::shadow::PairCounts) -> ShadowReport {
        let interval = c.agreement_interval(1.96);
        let scored: u64 = c.difference_bins.iter().sum();
        ShadowReport {
            pairs: c.pairs,
            decided: c.decided,
            agreement: c.agreement(),
            agreement_low: interval.map(|i| i.0),
            agreement_high: interval.map(|i| i.1),
            score_difference_p50: c.difference_quantile(0.5).filter(|d| d.is_finite()),
            score_difference_p90: c.difference_quantile(0.9).filter(|d| d.is_finite()),
            shadow_higher: (scored > 0).then(|| c.candidate_higher as f64 / scored as f64),
            labelled: c.labelled,
            live_only_right: c.baseline_only_right,
            shadow_only_right: c.candidate_only_right,
            both_right: c.both_right,
        }
    }
}

/// The deployment's verdict from the window's performance counts of each version of
/// the model. A version in both globs counts for the candidate.
pub fn evaluate_deployment(
    s: &DeploymentSettings,
    versions: &[(String, PerformanceCounts)],
) -> DeploymentReport {
    let mut baseline = PerformanceCounts::default();
    let mut candidate = PerformanceCounts::default();
    let (mut baseline_versions, mut candidate_versions) = (Vec::new(), Vec::new());
    for (version, counts) in versions {
        if crate::base::text::glob_match(&s.candidate, version) {
            candidate.merge(counts);
            candidate_versions.push(version.clone());
        } else if crate::base::text::glob_match(&s.baseline, version) {
            baseline.merge(counts);
            baseline_versions.push(version.clone());
        }
    }
    let metrics: Vec<MetricVerdict> = s
        .metrics
        .iter()
        .map(|&m| {
            let (b, c) = (m.moments(&baseline), m.moments(&candidate));
            let cmp = compare(&b, &c, m.kind(), &s.sequential(m));
            MetricVerdict {
                metric: m.name(),
                baseline: Arm {
                    samples: b.n,
                    value: b.mean(),
                },
                candidate: Arm {
                    samples: c.n,
                    value: c.mean(),
                },
                difference: cmp.map(|c| c.difference),
                low: cmp.map(|c| c.low),
                high: cmp.map(|c| c.high),
                verdict: cmp.map_or("continue", |c| c.verdict.as_str()),
            }
        })
        .collect();
    let verdict = if metrics.iter().any(|m| m.verdict == "rollback") {
        "rollback"
    } else if !metrics.is_empty() && metrics.iter().all(|m| m.verdict == "promote") {
        "promote"
    } else {
        "continue"
    };
    DeploymentReport {
        deployment: s.name.clone(),
        kind: s.kind,
        window: s.window.0.clone(),
        baseline_versions,
        candidate_versions,
        metrics,
        verdict,
        shadow: None,
    }
}

/// A verdict as a number, for gauges and rule metrics: 1 promote, 0 continue,
/// −1 rollback.
pub fn verdict_score(verdict: &str) -> f64 {
    match verdict {
        "promote" => 1.0,
        "rollback" => -1.0,
        _ => 0.0,
    }
}

/// The last verdict a deployment reached (`promote` or `rollback`) and for which
/// candidate versions; persisted by the alerting stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReachedVerdict {
    pub verdict: String,
    pub candidate_versions: Vec<String>,
    pub at_ms: i64,
}

/// Whether `r` reaches a verdict to announce: a decisive one, other than the last
/// reached or for other candidate versions. A verdict is where a sequential test
/// stops, so a later `continue` (the window moved on, or a restarted daemon still
/// replaying its input) does not take it back, and the same verdict is not
/// announced twice.
pub(crate) fn newly_reached(r: &DeploymentReport, last: Option<&ReachedVerdict>) -> bool {
    r.verdict != "continue"
        && last
            .is_none_or(|l| l.verdict != r.verdict || l.candidate_versions != r.candidate_versions)
}

/// The CloudEvent type of a reached verdict (`[retrain] deployments_topic`).
pub(crate) const VERDICT_EVENT_TYPE: &str = "io.driftd.deployment.verdict";

/// The CloudEvents 1.0 event (structured JSON) announcing that `model`'s deployment
/// reached `r.verdict` at `at_ms`, with the evidence. The id is derived from what
/// makes the event unique, so a consumer can drop the rare duplicate.
pub(crate) fn verdict_event(
    model: &str,
    r: &DeploymentReport,
    previous: Option<&ReachedVerdict>,
    source: &str,
    at_ms: i64,
) -> serde_json::Value {
    let at = at_ms.to_string();
    serde_json::json!({
        "specversion": "1.0",
        "id": crate::base::id::stable_id(&["deployment", model, &r.deployment, r.verdict, &at]),
        "source": source,
        "type": VERDICT_EVENT_TYPE,
        "subject": format!("{model}/{}", r.deployment),
        "time": crate::base::time::rfc3339(at_ms),
        "datacontenttype": "application/json",
        "data": {
            "model": model,
            "deployment": r.deployment,
            "kind": r.kind,
            "window": r.window,
            "verdict": r.verdict,
            "previous_verdict": previous.map(|p| &p.verdict),
            "baseline_versions": r.baseline_versions,
            "candidate_versions": r.candidate_versions,
            "metrics": r.metrics,
        }
    })
}

/// Every deployment of `model` at `now_ms`, from the live windows of its versions
/// (each version's window read once per window length).
pub(crate) fn deployment_reports(
    source: &dyn super::WindowSource,
    model: &str,
    deployments: &[DeploymentSettings],
    now_ms: i64,
) -> Result<Vec<DeploymentReport>, crate::window::BucketReadError> {
    let versions: Vec<String> = source
        .series()
        .into_iter()
        .filter(|(m, _)| m == model)
        .map(|(_, v)| v)
        .collect();
    type Read = (
        PerformanceCounts,
        std::collections::BTreeMap<String, PairCounts>,
    );
    let mut read: std::collections::BTreeMap<(String, i64), Read> = Default::default();
    let mut reports = Vec::with_capacity(deployments.len());
    for d in deployments {
        let mut per_version = Vec::new();
        let mut pairs = PairCounts::default();
        for v in &versions {
            let glob = |g: &str| crate::base::text::glob_match(g, v);
            if !glob(&d.baseline) && !glob(&d.candidate) {
                continue;
            }
            let key = (v.clone(), d.window.1);
            let (counts, shadow) = match read.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let w = source.window(model, Some(v), d.window.1, None, now_ms)?;
                    let r = (w.current.performance, w.current.shadow);
                    read.insert(key, r.clone());
                    r
                }
            };
            if let Some(p) = shadow.get(&d.name).filter(|_| glob(&d.candidate)) {
                pairs.merge(p);
            }
            per_version.push((v.clone(), counts));
        }
        let mut report = evaluate_deployment(d, &per_version);
        if d.kind == DeploymentKind::Shadow {
            report.shadow = Some(ShadowReport::from_counts(&pairs));
        }
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeploymentSettings {
        DeploymentSettings {
            name: "v2-canary".into(),
            kind: DeploymentKind::Canary,
            baseline: "v1*".into(),
            candidate: "v2*".into(),
            metrics: vec![DeploymentMetric::Accuracy],
            alpha: 0.05,
            beta: 0.2,
            min_effect: 0.05,
            min_samples: 200,
            planned_samples: None,
            window: ("24h".into(), 86_400_000),
        }
    }

    fn counts(n: u64, correct: u64) -> PerformanceCounts {
        PerformanceCounts {
            n,
            classified: n,
            correct,
            ..PerformanceCounts::default()
        }
    }

    #[test]
    fn a_verdict_is_announced_once_and_continue_does_not_take_it_back() {
        let v = vec![
            ("v1".to_string(), counts(6000, 4800)),
            ("v2".to_string(), counts(6000, 4500)),
        ];
        let rollback = evaluate_deployment(&settings(), &v);
        assert_eq!(rollback.verdict, "rollback");
        assert!(newly_reached(&rollback, None));
        let reached = ReachedVerdict {
            verdict: "rollback".into(),
            candidate_versions: vec!["v2".into()],
            at_ms: 1,
        };
        assert!(!newly_reached(&rollback, Some(&reached)), "once");
        let few = vec![
            ("v1".to_string(), counts(100, 80)),
            ("v2".to_string(), counts(100, 75)),
        ];
        let cont = evaluate_deployment(&settings(), &few);
        assert_eq!(cont.verdict, "continue");
        assert!(!newly_reached(&cont, None) && !newly_reached(&cont, Some(&reached)));
        let mut v3 = rollback.clone();
        v3.candidate_versions = vec!["v2".into(), "v2.1".into()];
        assert!(newly_reached(&v3, Some(&reached)), "another candidate");
        let mut promote = rollback.clone();
        promote.verdict = "promote";
        assert!(newly_reached(&promote, Some(&reached)), "the other verdict");
        let event = verdict_event("churn", &rollback, Some(&reached), "/driftd", 5_000);
        assert_eq!(event["type"], VERDICT_EVENT_TYPE);
        assert_eq!(event["subject"], "churn/v2-canary");
        assert_eq!(event["data"]["verdict"], "rollback");
        assert_eq!(event["data"]["previous_verdict"], "rollback");
        assert_eq!(event["data"]["metrics"][0]["metric"], "accuracy");
        assert_eq!(
            event["id"],
            verdict_event("churn", &rollback, None, "/x", 5_000)["id"],
            "the id is what makes the event unique"
        );
    }

    #[test]
    fn versions_go_to_their_arm_and_a_worse_candidate_is_rolled_back() {
        let versions = vec![
            ("v1".to_string(), counts(4000, 3200)),
            ("v1.1".to_string(), counts(2000, 1600)),
            ("v2".to_string(), counts(6000, 4500)),
            ("v3".to_string(), counts(100, 0)),
        ];
        let r = evaluate_deployment(&settings(), &versions);
        assert_eq!(r.baseline_versions, ["v1", "v1.1"]);
        assert_eq!(r.candidate_versions, ["v2"], "v3 is in neither arm");
        let m = &r.metrics[0];
        assert_eq!((m.baseline.samples, m.candidate.samples), (6000, 6000));
        assert!((m.difference.unwrap() + 0.05).abs() < 1e-12, "{m:?}");
        assert!(m.high.unwrap() < 0.0, "{m:?}");
        assert_eq!((m.verdict, r.verdict), ("rollback", "rollback"));
    }

    #[test]
    fn an_equal_candidate_is_promoted_and_one_without_outcomes_waits() {
        let versions = vec![
            ("v1".to_string(), counts(6000, 4800)),
            ("v2".to_string(), counts(6000, 4800)),
        ];
        assert_eq!(
            evaluate_deployment(&settings(), &versions).verdict,
            "promote"
        );
        let versions = vec![("v1".to_string(), counts(6000, 4800))];
        let r = evaluate_deployment(&settings(), &versions);
        assert_eq!(r.verdict, "continue");
        assert_eq!(r.metrics[0].difference, None);
    }
}
