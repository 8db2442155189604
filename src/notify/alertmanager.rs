//! Alerts as Prometheus pushes them to Alertmanager (`POST /api/v2/alerts`). Pure: the
//! alert table, when each alert was last pushed and `now` in; whether to push and the
//! body out. Delivery is the outbox sender's.
//!
//! As in Prometheus (`rules/alerting.go`, `sendAlerts`): pending alerts are not sent;
//! a firing alert is sent when it starts firing and again every `resend_delay`, with
//! `endsAt` a lease of 4 × max(resend delay, evaluation interval) ahead, so that
//! Alertmanager resolves it by itself if driftd stops sending; a resolved alert is
//! sent with `endsAt` = when it resolved, at once and then every `resend_delay` while
//! driftd keeps it. Every push carries every firing and resolved alert, so a later
//! push supersedes an earlier one still waiting in the outbox.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::base::time::rfc3339;
use crate::rules::{Alert, AlertPhase};

/// What a push needs besides the alerts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PushSettings {
    pub resend_delay_ms: i64,
    /// The evaluation interval (`[windows] tick`).
    pub interval_ms: i64,
    /// Base of `generatorURL`, e.g. "http://driftd:7853".
    pub generator_base: String,
}

impl PushSettings {
    /// How long a firing alert stays firing in Alertmanager without a new push.
    pub fn lease_ms(&self) -> i64 {
        4 * self.resend_delay_ms.max(self.interval_ms)
    }
}

/// Whether `alert` is due, given when it was last pushed (Prometheus's `needsSending`).
pub(crate) fn needs_sending(
    alert: &Alert,
    last_sent_ms: Option<i64>,
    s: &PushSettings,
    now_ms: i64,
) -> bool {
    match alert.phase {
        AlertPhase::Pending => false,
        _ => match last_sent_ms {
            None => true,
            Some(sent) => {
                alert.resolved_at_ms.is_some_and(|r| r > sent) || sent + s.resend_delay_ms <= now_ms
            }
        },
    }
}

/// The body of a push: every firing and resolved alert of `alerts`.
pub(crate) fn push_body<'a>(
    alerts: impl Iterator<Item = &'a Alert>,
    s: &PushSettings,
    now_ms: i64,
) -> Value {
    let list: Vec<Value> = alerts
        .filter(|a| a.phase != AlertPhase::Pending)
        .map(|a| {
            let ends_at = match (a.phase, a.resolved_at_ms) {
                (AlertPhase::Resolved, Some(at)) => at,
                _ => now_ms + s.lease_ms(),
            };
            json!({
                "labels": a.labels,
                "annotations": annotations(a),
                "startsAt": rfc3339(a.fired_at_ms.unwrap_or(a.active_at_ms)),
                "endsAt": rfc3339(ends_at),
                "generatorURL": generator_url(&s.generator_base, a),
            })
        })
        .collect();
    Value::Array(list)
}

/// A grouped notification as Alertmanager's webhook receiver sends it (`version`
/// "4"): for a chat tool or an incident system that takes Alertmanager webhooks.
/// The group is `[alerting] group_by`'s (`groupLabels`, default {model}); `status` is
/// `firing` while any alert of the notification fires.
pub(crate) fn webhook_body(n: &super::Notification, generator_base: &str) -> Value {
    let alert = |a: &Alert, status: &str| {
        json!({
            "status": status,
            "labels": a.labels,
            "annotations": annotations(a),
            "startsAt": rfc3339(a.fired_at_ms.unwrap_or(a.active_at_ms)),
            "endsAt": a.resolved_at_ms.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "generatorURL": generator_url(generator_base, a),
            "fingerprint": crate::base::id::stable_id(&[&a.fingerprint()]),
        })
    };
    let all: Vec<&Alert> = n.firing.iter().chain(&n.resolved).collect();
    // Labels and annotations every alert of the notification shares.
    let common = |pick: &dyn Fn(&Alert) -> BTreeMap<String, String>| -> BTreeMap<String, String> {
        let mut out = all.first().map(|a| pick(a)).unwrap_or_default();
        for a in &all[1..] {
            let theirs = pick(a);
            out.retain(|k, v| theirs.get(k) == Some(v));
        }
        out
    };
    let common_labels = common(&|a: &Alert| a.labels.clone());
    let common_annotations = common(&annotations);
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{}", n.group),
        "truncatedAlerts": 0,
        "status": if n.firing.is_empty() { "resolved" } else { "firing" },
        "receiver": "driftd",
        "groupLabels": n.group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": generator_base,
        "alerts": n.firing.iter().map(|a| alert(a, "firing"))
            .chain(n.resolved.iter().map(|a| alert(a, "resolved")))
            .collect::<Vec<_>>(),
    })
}

/// The rendered annotations, those that are not empty.
fn annotations(a: &Alert) -> BTreeMap<String, String> {
    a.annotations
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// driftd's API view of the alert's model and window, names encoded.
fn generator_url(base: &str, a: &Alert) -> String {
    let Ok(mut url) = url::Url::parse(base) else {
        return base.to_string();
    };
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend([
            "api",
            "v1",
            "models",
            a.label("model").unwrap_or_default(),
            "drift",
        ]);
    }
    if let Some(w) = a.label("window") {
        url.query_pairs_mut().append_pair("window", w);
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(phase: AlertPhase, resolved_at_ms: Option<i64>) -> Alert {
        let labels: BTreeMap<String, String> = [
            ("alertname", "PlanDrift"),
            ("model", "fraud/eu"),
            ("window", "5m"),
            ("severity", "critical"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Alert {
            rule: "PlanDrift".into(),
            labels,
            phase,
            active_at_ms: 1_000,
            fired_at_ms: Some(61_000),
            resolved_at_ms,
            last_true_ms: 0,
            keep_firing_since_ms: None,
            metric: "psi".into(),
            value: 0.4,
            threshold: 0.2,
            reference: None,
            baseline: None,
            samples: 10,
            annotations: [("summary".to_string(), "plan drifted".to_string())].into(),
        }
    }

    fn settings() -> PushSettings {
        PushSettings {
            resend_delay_ms: 60_000,
            interval_ms: 10_000,
            generator_base: "http://driftd:7853/".into(),
        }
    }

    #[test]
    fn webhook_body_in_alertmanagers_shape() {
        let mut other = alert(AlertPhase::Resolved, Some(200_000));
        other.labels.insert("feature".into(), "age".into());
        other
            .annotations
            .insert("summary".into(), "age drifted".into());
        let n = crate::notify::Notification {
            group: "{model=\"fraud/eu\"}".into(),
            group_labels: [("model".to_string(), "fraud/eu".to_string())].into(),
            at_ms: 300_000,
            firing: vec![alert(AlertPhase::Firing, None)],
            resolved: vec![other],
        };
        let b = webhook_body(&n, "http://driftd:7853");
        assert_eq!(b["version"], "4");
        assert_eq!(b["status"], "firing");
        assert_eq!(b["groupLabels"]["model"], "fraud/eu");
        assert_eq!(b["groupKey"], "{}:{model=\"fraud/eu\"}");
        assert_eq!(b["alerts"][0]["status"], "firing");
        assert_eq!(b["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(b["alerts"][1]["status"], "resolved");
        assert_eq!(b["alerts"][1]["endsAt"], rfc3339(200_000));
        assert_eq!(b["commonLabels"]["model"], "fraud/eu");
        assert!(b["commonLabels"].get("feature").is_none(), "not shared");
        assert!(
            b["commonAnnotations"].get("summary").is_none(),
            "not shared"
        );
    }

    #[test]
    fn sends_as_prometheus_does() {
        let s = settings();
        let firing = alert(AlertPhase::Firing, None);
        assert!(!needs_sending(
            &alert(AlertPhase::Pending, None),
            None,
            &s,
            0
        ));
        assert!(needs_sending(&firing, None, &s, 100_000), "first time");
        assert!(!needs_sending(&firing, Some(100_000), &s, 159_999));
        assert!(
            needs_sending(&firing, Some(100_000), &s, 160_000),
            "resend delay"
        );
        let resolved = alert(AlertPhase::Resolved, Some(120_000));
        assert!(
            needs_sending(&resolved, Some(100_000), &s, 120_000),
            "resolved since"
        );
        assert!(!needs_sending(&resolved, Some(120_000), &s, 130_000));
    }

    #[test]
    fn body_has_labels_annotations_times_and_a_lease() {
        let s = settings();
        let alerts = [
            alert(AlertPhase::Firing, None),
            alert(AlertPhase::Pending, None),
            alert(AlertPhase::Resolved, Some(200_000)),
        ];
        let body = push_body(alerts.iter(), &s, 100_000);
        let list = body.as_array().unwrap();
        assert_eq!(list.len(), 2, "no pending alert: {body}");
        assert_eq!(list[0]["labels"]["alertname"], "PlanDrift");
        assert_eq!(list[0]["annotations"]["summary"], "plan drifted");
        assert!(list[0]["annotations"].get("description").is_none());
        assert_eq!(list[0]["startsAt"], rfc3339(61_000));
        // The lease: 4 × max(1 m, 10 s).
        assert_eq!(list[0]["endsAt"], rfc3339(100_000 + 240_000));
        assert_eq!(list[1]["endsAt"], rfc3339(200_000));
        assert_eq!(
            list[0]["generatorURL"],
            "http://driftd:7853/api/v1/models/fraud%2Feu/drift?window=5m"
        );
    }
}
