//! Alert states, evaluated the way Prometheus evaluates alerting rules:
//!
//! * a series whose condition holds starts **pending** (`active_at` = now);
//! * it turns **firing** once the condition has held for the rule's `for`
//!   (immediately when `for` is 0);
//! * a pending alert whose condition stops holding is dropped (back to inactive);
//! * a firing alert whose condition stops holding stays firing while less than
//!   `keep_firing_for` has passed since the first evaluation at which it no longer
//!   held (hysteresis), then becomes **resolved**;
//! * resolved alerts are kept for a while so that notifications can report them,
//!   and a resolved alert whose condition holds again starts a new episode.
//!
//! A series that is missing, has fewer than `min_samples` observations, or lacks the
//! reference value its condition needs counts as "condition does not hold".

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::file::{Rule, RuleSet};
use super::glob_match;
use super::sample::{Sample, SampleSet, SeriesKey};
use super::template::{self, TemplateData};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertPhase {
    Pending,
    Firing,
    Resolved,
}

impl AlertPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertPhase::Pending => "pending",
            AlertPhase::Firing => "firing",
            AlertPhase::Resolved => "resolved",
        }
    }
}

/// One alert: a rule applied to one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    /// `alertname`, `model`, `version` (per-version rules), `feature` (feature
    /// metrics), `window`, `severity`, and the rule's own labels.
    pub labels: BTreeMap<String, String>,
    pub phase: AlertPhase,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    /// Last evaluation at which the condition held.
    pub last_true_ms: i64,
    /// First evaluation at which a firing alert's condition no longer held; `None`
    /// while it holds. `keep_firing_for` counts from here, as Prometheus does
    /// (`KeepFiringSince`): not from the last evaluation at which it held.
    #[serde(default)]
    pub keep_firing_since_ms: Option<i64>,
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
    pub reference: Option<f64>,
    /// A version-relative rule's baseline value (absent in alerts stored before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub samples: u64,
    /// The rule's annotations, rendered at the last evaluation at which the condition
    /// held (`summary` always; `description`, `runbook_url`, … when the rule has them).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Alert {
    /// The alert's identity: its labels, as `k=v` pairs in order.
    pub(crate) fn fingerprint(&self) -> String {
        fingerprint(&self.labels)
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// The rendered `summary` annotation ("" when absent).
    pub fn summary(&self) -> &str {
        self.annotation("summary")
    }

    pub fn annotation(&self, name: &str) -> &str {
        self.annotations.get(name).map_or("", String::as_str)
    }
}

fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A state change of one alert; `to: None` means the alert was dropped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub rule: String,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    pub from: Option<AlertPhase>,
    pub to: Option<AlertPhase>,
}

/// Every alert that is not inactive, by fingerprint, and what changed since the last
/// persistence.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AlertTable {
    alerts: BTreeMap<String, Alert>,
    dirty: BTreeSet<String>,
    removed: BTreeSet<String>,
}

/// How a value is shown in summaries and e-mails.
pub(crate) fn format_value(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e6) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.3e}")
    }
}

impl AlertTable {
    pub(crate) fn restored(alerts: impl IntoIterator<Item = Alert>) -> AlertTable {
        AlertTable {
            alerts: alerts.into_iter().map(|a| (a.fingerprint(), a)).collect(),
            ..Default::default()
        }
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    pub fn get(&self, fingerprint: &str) -> Option<&Alert> {
        self.alerts.get(fingerprint)
    }

    /// (changed alerts, removed fingerprints) since [`AlertTable::mark_clean`].
    pub fn changes(&self) -> (Vec<Alert>, Vec<String>) {
        (
            self.dirty
                .iter()
                .filter_map(|f| self.alerts.get(f).cloned())
                .collect(),
            self.removed.iter().cloned().collect(),
        )
    }

    pub(crate) fn mark_clean(&mut self) {
        self.dirty.clear();
        self.removed.clear();
    }

    /// One evaluation at `now_ms`. Resolved alerts older than `keep_resolved_ms` are
    /// dropped.
    pub(crate) fn evaluate(
        &mut self,
        rules: &RuleSet,
        samples: &SampleSet,
        now_ms: i64,
        keep_resolved_ms: i64,
    ) -> Vec<Transition> {
        // fingerprint → (rule, labels, sample, threshold) of every series that holds.
        type Holding<'r> = (&'r Rule, BTreeMap<String, String>, Sample, f64);
        let mut holding: BTreeMap<String, Holding<'_>> = BTreeMap::new();
        for rule in &rules.rules {
            for (key, sample) in samples.iter() {
                if !selects(rule, key) || sample.samples < rule.min_samples {
                    continue;
                }
                let Some(threshold) = rule.condition.threshold(sample) else {
                    continue;
                };
                if rule.condition.holds(sample.value, threshold) {
                    let labels = alert_labels(rule, key);
                    holding.insert(fingerprint(&labels), (rule, labels, *sample, threshold));
                }
            }
        }

        let mut transitions = Vec::new();
        let mut change = |a: &Alert, from: Option<AlertPhase>, to: Option<AlertPhase>| {
            if from != to {
                transitions.push(Transition {
                    rule: a.rule.clone(),
                    fingerprint: a.fingerprint(),
                    labels: a.labels.clone(),
                    from,
                    to,
                });
            }
        };
        for (fp, (rule, labels, sample, threshold)) in &holding {
            let previous = self.alerts.get(fp).map(|a| a.phase);
            let mut alert = match self.alerts.remove(fp) {
                Some(a) if a.phase != AlertPhase::Resolved => a,
                // New, or a resolved alert that holds again: a new episode.
                _ => Alert {
                    rule: rule.name.clone(),
                    labels: labels.clone(),
                    phase: AlertPhase::Pending,
                    active_at_ms: now_ms,
                    fired_at_ms: None,
                    resolved_at_ms: None,
                    last_true_ms: now_ms,
                    keep_firing_since_ms: None,
                    metric: rule.metric.clone(),
                    value: sample.value,
                    threshold: *threshold,
                    reference: sample.reference,
                    baseline: sample.baseline,
                    samples: sample.samples,
                    annotations: BTreeMap::new(),
                },
            };
            alert.last_true_ms = now_ms;
            alert.keep_firing_since_ms = None;
            alert.value = sample.value;
            alert.threshold = *threshold;
            alert.reference = sample.reference;
            alert.baseline = sample.baseline;
            alert.samples = sample.samples;
            if alert.phase == AlertPhase::Pending && now_ms - alert.active_at_ms >= rule.for_ms {
                alert.phase = AlertPhase::Firing;
                alert.fired_at_ms = Some(now_ms);
            }
            alert.annotations = render_annotations(rule, &alert, &rules.external_url);
            change(&alert, previous, Some(alert.phase));
            self.dirty.insert(fp.clone());
            self.alerts.insert(fp.clone(), alert);
        }

        let rule_of: BTreeMap<&str, &Rule> =
            rules.rules.iter().map(|r| (r.name.as_str(), r)).collect();
        let idle: Vec<String> = self
            .alerts
            .keys()
            .filter(|fp| !holding.contains_key(*fp))
            .cloned()
            .collect();
        for fp in idle {
            let Some(alert) = self.alerts.get_mut(&fp) else {
                continue;
            };
            let from = Some(alert.phase);
            let drop = match (alert.phase, rule_of.get(alert.rule.as_str())) {
                // The rule was removed or renamed: its alerts go, as in Prometheus.
                (_, None) => true,
                (AlertPhase::Pending, _) => true,
                (AlertPhase::Firing, Some(rule)) => {
                    let since = match alert.keep_firing_since_ms {
                        Some(since) => since,
                        None => {
                            // Persisted, so a restart keeps counting from here.
                            alert.keep_firing_since_ms = Some(now_ms);
                            self.dirty.insert(fp.clone());
                            now_ms
                        }
                    };
                    if now_ms - since >= rule.keep_firing_for_ms {
                        alert.phase = AlertPhase::Resolved;
                        alert.resolved_at_ms = Some(now_ms);
                        self.dirty.insert(fp.clone());
                        change(alert, from, Some(AlertPhase::Resolved));
                    }
                    false
                }
                (AlertPhase::Resolved, _) => {
                    now_ms - alert.resolved_at_ms.unwrap_or(now_ms) >= keep_resolved_ms
                }
            };
            if drop {
                change(alert, from, None);
                self.alerts.remove(&fp);
                self.dirty.remove(&fp);
                self.removed.insert(fp.clone());
            }
        }
        // Re-added after removal in the same round is not a removal.
        for fp in &self.dirty {
            self.removed.remove(fp);
        }
        transitions
    }
}

/// Does the rule apply to this series?
pub(crate) fn selects(rule: &Rule, key: &SeriesKey) -> bool {
    // A name matches when some pattern matches it and no `!pattern` does.
    let any = |globs: &[String], s: &str| {
        globs
            .iter()
            .any(|g| !g.starts_with('!') && glob_match(g, s))
            && !globs
                .iter()
                .any(|g| g.strip_prefix('!').is_some_and(|g| glob_match(g, s)))
    };
    key.metric == rule.metric
        && key.window == rule.window
        && any(&rule.models, &key.model)
        && match (&rule.versions, &key.version) {
            (None, None) => true,
            (Some(g), Some(v)) => any(g, v),
            _ => false,
        }
        && match (&rule.features, &key.feature) {
            (None, None) => true,
            (Some(g), Some(f)) => any(g, f),
            _ => false,
        }
        && match (&rule.deployments, &key.deployment) {
            (None, None) => true,
            (Some(g), Some(d)) => any(g, d),
            _ => false,
        }
        && match (&rule.segments, &key.segment) {
            (None, None) => true,
            (Some(g), Some(s)) => any(g, s),
            _ => false,
        }
}

fn alert_labels(rule: &Rule, key: &SeriesKey) -> BTreeMap<String, String> {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.name.clone());
    labels.insert("model".into(), key.model.clone());
    if let Some(v) = &key.version {
        labels.insert("version".into(), v.clone());
    }
    if let Some(f) = &key.feature {
        labels.insert("feature".into(), f.clone());
    }
    if let Some(d) = &key.deployment {
        labels.insert("deployment".into(), d.clone());
    }
    if let Some(s) = &key.segment {
        labels.insert("segment".into(), s.clone());
    }
    labels.insert("window".into(), key.window.clone());
    labels.insert("severity".into(), rule.severity.clone());
    labels
}

fn render_annotations(rule: &Rule, a: &Alert, external_url: &str) -> BTreeMap<String, String> {
    let data = TemplateData {
        labels: &a.labels,
        value: a.value,
        threshold: a.threshold,
        reference: a.reference,
        baseline: a.baseline,
        samples: a.samples,
        metric: &rule.metric,
        rule: &rule.name,
        external_url,
    };
    rule.annotations
        .iter()
        .map(|(k, t)| (k.clone(), template::render(t, &data)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::file::parse_rules;
    use std::path::Path;

    fn rules(extra: &str) -> RuleSet {
        let text = format!(
            "[[rule]]\nname = \"Psi\"\nfeatures = [\"a*\", \"!*_id\"]\nmetric = \"psi\"\nwindow = \"1h\"\ncondition = \"> 0.2\"\n{extra}"
        );
        RuleSet {
            rules: parse_rules(Path::new("t.toml"), &text, None).unwrap(),
            files: vec![],
            external_url: String::new(),
        }
    }

    fn samples(values: &[(&str, f64)]) -> SampleSet {
        let mut s = SampleSet::default();
        for (feature, v) in values {
            s.insert(
                SeriesKey {
                    model: "m".into(),
                    version: None,
                    window: "1h".into(),
                    feature: Some(feature.to_string()),
                    deployment: None,
                    segment: None,
                    metric: "psi".into(),
                },
                Sample {
                    value: *v,
                    samples: 100,
                    reference: Some(0.0),
                    critical: None,
                    baseline: None,
                },
            );
        }
        s
    }

    fn phases(t: &AlertTable) -> Vec<(String, AlertPhase)> {
        t.alerts()
            .map(|a| (a.label("feature").unwrap().to_string(), a.phase))
            .collect()
    }

    const MIN: i64 = 60_000;

    #[test]
    fn pending_then_firing_then_resolved() {
        let r = rules("for = \"2m\"\nkeep_firing_for = \"1m\"");
        let mut t = AlertTable::default();
        let hot = samples(&[("age", 0.5), ("bmi", 0.9), ("income", 0.1), ("a_id", 0.9)]);
        let cold = samples(&[("age", 0.1)]);
        let tr = t.evaluate(&r, &hot, 0, 10 * MIN);
        assert_eq!(
            tr.len(),
            1,
            "only `age` matches a* but not *_id and holds: {tr:?}"
        );
        assert_eq!(phases(&t), vec![("age".into(), AlertPhase::Pending)]);
        t.evaluate(&r, &hot, MIN, 10 * MIN);
        assert_eq!(phases(&t)[0].1, AlertPhase::Pending, "1m < for");
        let tr = t.evaluate(&r, &hot, 2 * MIN, 10 * MIN);
        assert_eq!(tr[0].to, Some(AlertPhase::Firing));
        assert_eq!(t.alerts().next().unwrap().fired_at_ms, Some(2 * MIN));
        // keep_firing_for counts from the first evaluation at which the condition
        // no longer held (2m30s), as Prometheus does: still firing at 3m.
        t.evaluate(&r, &cold, 2 * MIN + 30_000, 10 * MIN);
        assert_eq!(phases(&t)[0].1, AlertPhase::Firing);
        let tr = t.evaluate(&r, &cold, 3 * MIN, 10 * MIN);
        assert!(tr.is_empty(), "{tr:?}");
        assert_eq!(phases(&t)[0].1, AlertPhase::Firing);
        let tr = t.evaluate(&r, &cold, 3 * MIN + 30_000, 10 * MIN);
        assert_eq!(tr[0].to, Some(AlertPhase::Resolved));
        // Kept for notifications, then dropped.
        t.evaluate(&r, &cold, 13 * MIN, 10 * MIN);
        assert_eq!(phases(&t)[0].1, AlertPhase::Resolved);
        let tr = t.evaluate(&r, &cold, 14 * MIN, 10 * MIN);
        assert_eq!(tr[0].to, None);
        assert_eq!(t.alerts().count(), 0);
        assert_eq!(t.changes().1.len(), 1, "removal is persisted");
    }

    #[test]
    fn pending_that_stops_holding_is_dropped_and_restarts() {
        let r = rules("for = \"2m\"");
        let mut t = AlertTable::default();
        let hot = samples(&[("age", 0.5)]);
        t.evaluate(&r, &hot, 0, MIN);
        t.evaluate(&r, &samples(&[]), MIN, MIN);
        assert_eq!(t.alerts().count(), 0, "a missing series does not hold");
        t.evaluate(&r, &hot, 2 * MIN, MIN);
        t.evaluate(&r, &hot, 3 * MIN, MIN);
        assert_eq!(phases(&t)[0].1, AlertPhase::Pending, "for restarts at 2m");
        t.evaluate(&r, &hot, 4 * MIN, MIN);
        assert_eq!(phases(&t)[0].1, AlertPhase::Firing);
    }

    #[test]
    fn min_samples_and_for_zero() {
        let r = rules("min_samples = 101");
        let mut t = AlertTable::default();
        t.evaluate(&r, &samples(&[("age", 0.5)]), 0, MIN);
        assert_eq!(t.alerts().count(), 0, "100 samples < 101");
        let r = rules("min_samples = 100");
        t.evaluate(&r, &samples(&[("age", 0.5)]), 0, MIN);
        assert_eq!(phases(&t)[0].1, AlertPhase::Firing, "for = 0 fires at once");
        let a = t.alerts().next().unwrap();
        assert_eq!(a.summary(), "psi of age is 0.5 (1h window; threshold 0.2)");
        assert_eq!(a.labels["severity"], "warning");
        assert!(!a.labels.contains_key("version"), "versions merged");
    }

    #[test]
    fn removed_rule_drops_its_alerts() {
        let r = rules("");
        let mut t = AlertTable::default();
        t.evaluate(&r, &samples(&[("age", 0.5)]), 0, MIN);
        let tr = t.evaluate(&RuleSet::default(), &samples(&[("age", 0.5)]), MIN, MIN);
        assert_eq!(tr[0].to, None);
        assert_eq!(t.alerts().count(), 0);
    }

    #[test]
    fn values() {
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.00001234), "1.234e-5");
    }
}
