//! Canary, shadow and A/B deployments: a candidate version's performance against its
//! baseline's over one window, with a verdict that stays valid when it is looked at
//! every tick ([`crate::stats::sequential`]). Pure: each version's performance counts
//! in, a [`DeploymentReport`] out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::performance::PerformanceCounts;
use crate::stats::sequential::{
    compare, fixed_horizon_samples, MetricKind, Moments, SequentialSettings,
};
use crate::stats::shadow::PairCounts;
use crate::window::{Bucket, BucketReadError, ProfileSet};

use super::WindowReport;

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
) -> Result<Vec<DeploymentReport>, BucketReadError> {
    VersionWindows::new(source, model, now_ms).deployment_reports(deployments)
}

/// The windows of one model's versions at one look, each read once per window
/// length however many deployments and rules use it.
pub(crate) struct VersionWindows<'a> {
    source: &'a dyn super::WindowSource,
    model: &'a str,
    now_ms: i64,
    versions: Vec<String>,
    read: BTreeMap<(String, i64), Bucket>,
}

/// A deployment's two arms over one window, each merged over its versions, as window
/// reports: the candidate's features measured against the baseline's counts in the
/// same bins, the baseline's against themselves (so a distribution statistic of the
/// baseline is its value against itself: 0 for PSI). `None` while an arm has no
/// version.
#[derive(Debug, Clone)]
pub(crate) struct ArmReports {
    pub candidate: WindowReport,
    pub baseline: WindowReport,
}

impl<'a> VersionWindows<'a> {
    pub fn new(source: &'a dyn super::WindowSource, model: &'a str, now_ms: i64) -> Self {
        let versions = source
            .series()
            .into_iter()
            .filter(|(m, _)| m == model)
            .map(|(_, v)| v)
            .collect();
        VersionWindows {
            source,
            model,
            now_ms,
            versions,
            read: BTreeMap::new(),
        }
    }

    fn bucket(&mut self, version: &str, window_ms: i64) -> Result<&Bucket, BucketReadError> {
        let key = (version.to_string(), window_ms);
        if !self.read.contains_key(&key) {
            let w = self
                .source
                .window(self.model, Some(version), window_ms, None, self.now_ms)?;
            self.read.insert(key.clone(), w.current);
        }
        Ok(&self.read[&key])
    }

    /// The versions of each arm (baseline, candidate); a version in both globs is
    /// the candidate's.
    fn arms(&self, d: &DeploymentSettings) -> (Vec<String>, Vec<String>) {
        let glob = crate::base::text::glob_match;
        let candidate: Vec<String> = self
            .versions
            .iter()
            .filter(|v| glob(&d.candidate, v))
            .cloned()
            .collect();
        let baseline = self
            .versions
            .iter()
            .filter(|v| glob(&d.baseline, v) && !glob(&d.candidate, v))
            .cloned()
            .collect();
        (baseline, candidate)
    }

    pub fn deployment_reports(
        &mut self,
        deployments: &[DeploymentSettings],
    ) -> Result<Vec<DeploymentReport>, BucketReadError> {
        let mut reports = Vec::with_capacity(deployments.len());
        for d in deployments {
            let (baseline, candidate) = self.arms(d);
            let mut per_version = Vec::new();
            let mut pairs = PairCounts::default();
            for v in baseline.iter().chain(&candidate) {
                let b = self.bucket(v, d.window.1)?;
                if let Some(p) = b.shadow.get(&d.name).filter(|_| candidate.contains(v)) {
                    pairs.merge(p);
                }
                per_version.push((v.clone(), b.performance.clone()));
            }
            let mut report = evaluate_deployment(d, &per_version);
            if d.kind == DeploymentKind::Shadow {
                report.shadow = Some(ShadowReport::from_counts(&pairs));
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Each arm of `d` merged over `window`, for version-relative rules.
    pub fn arm_reports(
        &mut self,
        d: &DeploymentSettings,
        window: (&str, i64),
        profiles: &ProfileSet,
        settings: &super::EvaluationSettings,
    ) -> Result<Option<ArmReports>, BucketReadError> {
        let (baseline_versions, candidate_versions) = self.arms(d);
        let (Some(b0), Some(c0)) = (baseline_versions.first(), candidate_versions.first()) else {
            return Ok(None);
        };
        let mut merged = |versions: &[String]| -> Result<Option<Bucket>, BucketReadError> {
            let mut sum: Option<Bucket> = None;
            for v in versions {
                let b = self.bucket(v, window.1)?;
                match &mut sum {
                    Some(s) if s.profile_id == b.profile_id => s.merge(b),
                    // Versions measured in other bins: their features cannot be added
                    // up, the rest (events, latency, performance) can.
                    Some(s) => {
                        let mut b = b.clone();
                        b.features.clear();
                        b.profile_id = None;
                        s.features.clear();
                        s.profile_id = None;
                        s.merge(&b);
                    }
                    None => sum = Some(b.clone()),
                }
            }
            Ok(sum)
        };
        let (Some(mut candidate), Some(mut baseline)) =
            (merged(&candidate_versions)?, merged(&baseline_versions)?)
        else {
            return Ok(None);
        };
        if candidate.profile_id != baseline.profile_id {
            for arm in [&mut candidate, &mut baseline] {
                arm.features.clear();
                arm.profile_id = None;
            }
        }
        let report = |current: &Bucket, version: &str| {
            let buckets = super::WindowBuckets {
                newest_event_ms: current.last_event_ms,
                current: current.clone(),
                reference: Some(baseline.clone()),
                unknown_names: Vec::new(),
            };
            let mut r = super::window_report(
                &buckets,
                profiles,
                self.model,
                Some(version),
                window,
                self.now_ms,
                settings,
            );
            r.version = None;
            r
        };
        Ok(Some(ArmReports {
            candidate: report(&candidate, c0),
            baseline: report(&baseline, b0),
        }))
    }
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

    /// The live windows of a [`WindowState`], as the ingest pipeline serves them.
    struct Windows {
        state: std::sync::Mutex<crate::window::WindowState>,
        profiles: std::sync::Arc<ProfileSet>,
    }

    impl super::super::WindowSource for Windows {
        fn series(&self) -> std::collections::BTreeSet<(String, String)> {
            self.state.lock().unwrap().series()
        }
        fn window(
            &self,
            model: &str,
            version: Option<&str>,
            window_ms: i64,
            rolling_reference_ms: Option<i64>,
            now_ms: i64,
        ) -> Result<super::super::WindowBuckets, BucketReadError> {
            super::super::window_bucket(
                &mut self.state.lock().unwrap(),
                &self.profiles,
                model,
                version,
                window_ms,
                rolling_reference_ms,
                now_ms,
                &crate::window::WindowMemory::default(),
                &crate::window::NoStoredBuckets,
            )
        }
        fn profiles(&self) -> std::sync::Arc<ProfileSet> {
            self.profiles.clone()
        }
        fn compact(&self, _now_ms: i64) {}
        fn history_buckets(
            &self,
            _model: &str,
            _version: Option<&str>,
            _from_ms: i64,
            _to_ms: i64,
        ) -> Result<Vec<(crate::window::Tier, i64, i64, Bucket)>, BucketReadError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_candidate_is_measured_against_its_baseline_in_the_same_bins() {
        use crate::dataset::Cell;
        use crate::event::{FeatureValue, PredictionRecord};
        // The profile has x and y uniform on 0..99. Both arms moved x to 50..99 (the
        // inputs moved, not the candidate); only the candidate moved y.
        let profile = crate::reference::test_profile(
            "v1",
            &["x", "y"],
            (0..1000).map(|i| vec![Cell::Number((i % 100) as f64); 2]),
        );
        let profiles = std::sync::Arc::new(ProfileSet::new(vec![profile]));
        let now = 1_000 * 3_600_000;
        let mut state = crate::window::WindowState::default();
        let window_settings = crate::window::WindowSettings::default();
        for (version, n, y_from) in [("v1", 600, 0), ("v2", 300, 50)] {
            for i in 0..n {
                let record = PredictionRecord {
                    model: "m".into(),
                    version: version.into(),
                    id: None,
                    ts_ms: now - 600_000 + i * 1000,
                    features: vec![
                        ("x".into(), FeatureValue::Number((50 + i % 50) as f64)),
                        (
                            "y".into(),
                            FeatureValue::Number((y_from + i % (100 - y_from)) as f64),
                        ),
                    ],
                    prediction: None,
                    latency_ms: None,
                    segment: vec![],
                };
                let p = profiles.get("m", version).map(|p| &**p);
                state.observe(
                    &record,
                    p,
                    &window_settings,
                    now,
                    &crate::window::NoStoredBuckets,
                );
            }
        }
        let source = Windows {
            state: std::sync::Mutex::new(state),
            profiles: profiles.clone(),
        };
        let mut versions = VersionWindows::new(&source, "m", now);
        let d = DeploymentSettings {
            baseline: "v1".into(),
            candidate: "v2".into(),
            ..settings()
        };
        let arms = versions
            .arm_reports(&d, ("1h", 3_600_000), &profiles, &Default::default())
            .unwrap()
            .expect("both arms have data");
        let psi = |r: &WindowReport, feature: &str| {
            r.drift
                .features
                .iter()
                .find(|f| f.name == feature)
                .and_then(|f| f.psi)
                .unwrap()
        };
        let (c, b) = (&arms.candidate, &arms.baseline);
        assert!(psi(c, "x") < 0.05, "the same inputs as the baseline");
        assert!(psi(c, "y") > 0.5, "half the baseline's range");
        assert_eq!(psi(b, "y"), 0.0, "the baseline against itself");
        assert_eq!((c.events, b.events), (300, 600));
        assert_eq!(c.drift.reference.rows, 600, "the baseline is the reference");
        assert_eq!((c.version.as_deref(), b.version.as_deref()), (None, None));
        // Against the profile, both arms' x moved: what a version-relative rule does
        // not page on.
        use super::super::WindowSource;
        let w = source
            .window("m", Some("v2"), 3_600_000, None, now)
            .unwrap();
        let alone = super::super::window_report(
            &w,
            &profiles,
            "m",
            Some("v2"),
            ("1h", 3_600_000),
            now,
            &Default::default(),
        );
        assert!(alone.drift.features[0].psi.unwrap() > 0.5);
        // No baseline version: no comparison.
        let only = DeploymentSettings {
            baseline: "v0".into(),
            ..d
        };
        assert!(versions
            .arm_reports(&only, ("1h", 3_600_000), &profiles, &Default::default())
            .unwrap()
            .is_none());
    }
}
