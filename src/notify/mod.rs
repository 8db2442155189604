//! Alert notifications, grouped the way Alertmanager groups them. Pure: alerts, group
//! state and a `now` in; notifications to send out. Delivery is [`crate::outbox`]'s.
//!
//! Alerts of rules with the `email` action are grouped per model. A new group waits
//! `group_wait` (to collect alerts that fire together) and sends; afterwards it is
//! looked at every `group_interval` and sends when alerts were added, or resolved
//! (with `send_resolved`), or `repeat_interval` passed since the last e-mail while
//! alerts are still firing. A group whose alerts are all resolved is removed once
//! that has been notified.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rules::alert::{format_value, Alert, AlertPhase};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupSettings {
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub send_resolved: bool,
}

/// What a group remembers between evaluations (persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub key: String,
    pub created_ms: i64,
    pub last_flush_ms: Option<i64>,
    pub last_sent_ms: Option<i64>,
    /// Fingerprints of the alerts that were firing at the last notification.
    pub notified_firing: BTreeSet<String>,
}

/// One e-mail's worth of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub group: String,
    pub at_ms: i64,
    pub firing: Vec<Alert>,
    pub resolved: Vec<Alert>,
}

/// Groups' state; changes are tracked for persistence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Groups {
    groups: BTreeMap<String, GroupState>,
    dirty: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl Groups {
    pub fn restored(groups: impl IntoIterator<Item = GroupState>) -> Groups {
        Groups {
            groups: groups.into_iter().map(|g| (g.key.clone(), g)).collect(),
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn changes(&self) -> (Vec<GroupState>, Vec<String>) {
        (
            self.dirty
                .iter()
                .filter_map(|k| self.groups.get(k).cloned())
                .collect(),
            self.removed.iter().cloned().collect(),
        )
    }

    pub fn mark_clean(&mut self) {
        self.dirty.clear();
        self.removed.clear();
    }

    /// Looks at every group at `now_ms`. `alerts`: the alerts of e-mailing rules.
    pub fn flush<'a>(
        &mut self,
        alerts: impl IntoIterator<Item = &'a Alert>,
        settings: &GroupSettings,
        now_ms: i64,
    ) -> Vec<Notification> {
        let mut by_group: BTreeMap<String, Vec<&Alert>> = BTreeMap::new();
        for a in alerts {
            if a.phase != AlertPhase::Pending {
                by_group
                    .entry(a.label("model").unwrap_or("").to_string())
                    .or_default()
                    .push(a);
            }
        }
        let keys: BTreeSet<String> = by_group.keys().chain(self.groups.keys()).cloned().collect();
        let mut out = Vec::new();
        for key in keys {
            let alerts = by_group.remove(&key).unwrap_or_default();
            let firing: BTreeMap<String, &Alert> = alerts
                .iter()
                .filter(|a| a.phase == AlertPhase::Firing)
                .map(|a| (a.fingerprint(), *a))
                .collect();
            let group = match self.groups.get_mut(&key) {
                Some(g) => g,
                None if firing.is_empty() => continue,
                None => {
                    self.dirty.insert(key.clone());
                    self.removed.remove(&key);
                    self.groups.entry(key.clone()).or_insert(GroupState {
                        key: key.clone(),
                        created_ms: now_ms,
                        last_flush_ms: None,
                        last_sent_ms: None,
                        notified_firing: BTreeSet::new(),
                    })
                }
            };
            let due = match group.last_flush_ms {
                None => now_ms >= group.created_ms + settings.group_wait_ms,
                Some(t) => now_ms >= t + settings.group_interval_ms,
            };
            if !due {
                continue;
            }
            let added = firing.keys().any(|f| !group.notified_firing.contains(f));
            let gone: BTreeSet<&String> = group
                .notified_firing
                .iter()
                .filter(|f| !firing.contains_key(*f))
                .collect();
            let repeat = !firing.is_empty()
                && group
                    .last_sent_ms
                    .is_none_or(|t| now_ms - t >= settings.repeat_interval_ms);
            let send = added || (settings.send_resolved && !gone.is_empty()) || repeat;
            if send {
                let resolved = if settings.send_resolved {
                    alerts
                        .iter()
                        .filter(|a| {
                            a.phase == AlertPhase::Resolved && gone.contains(&a.fingerprint())
                        })
                        .map(|a| (*a).clone())
                        .collect()
                } else {
                    Vec::new()
                };
                out.push(Notification {
                    group: key.clone(),
                    at_ms: now_ms,
                    firing: firing.values().map(|a| (*a).clone()).collect(),
                    resolved,
                });
                group.last_sent_ms = Some(now_ms);
            }
            group.last_flush_ms = Some(now_ms);
            group.notified_firing = firing.keys().cloned().collect();
            if firing.is_empty() {
                self.groups.remove(&key);
                self.dirty.remove(&key);
                self.removed.insert(key);
            } else {
                self.dirty.insert(key);
            }
        }
        out
    }
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

const COLUMNS: &[&str] = &[
    "status",
    "rule",
    "version",
    "window",
    "severity",
    "feature",
    "metric",
    "value",
    "threshold",
    "reference",
];

fn row(status: &str, a: &Alert) -> Vec<String> {
    let l = |k: &str| a.label(k).unwrap_or("all").to_string();
    vec![
        status.to_string(),
        a.rule.clone(),
        l("version"),
        l("window"),
        l("severity"),
        a.label("feature").unwrap_or("—").to_string(),
        a.metric.clone(),
        format_value(a.value),
        format_value(a.threshold),
        a.reference
            .map(format_value)
            .unwrap_or_else(|| "n/a".into()),
    ]
}

/// Subject, plain text and HTML of a notification. `dashboard_url`: the Grafana base
/// URL, for a link to the model's dashboard.
pub fn render_email(n: &Notification, dashboard_url: Option<&str>) -> EmailContent {
    let mut rules: Vec<&str> = n
        .firing
        .iter()
        .chain(&n.resolved)
        .map(|a| a.rule.as_str())
        .collect();
    rules.dedup();
    rules.sort();
    rules.dedup();
    let subject = if n.firing.is_empty() {
        format!("[RESOLVED] {}: {}", n.group, rules.join(", "))
    } else {
        format!(
            "[FIRING:{}] {}: {}",
            n.firing.len(),
            n.group,
            rules.join(", ")
        )
    };
    let rows: Vec<Vec<String>> = n
        .firing
        .iter()
        .map(|a| row("firing", a))
        .chain(n.resolved.iter().map(|a| row("resolved", a)))
        .collect();
    let link = dashboard_url.map(|base| {
        format!(
            "{}/d/driftd-model/driftd-model?var-model={}",
            base.trim_end_matches('/'),
            n.group
        )
    });
    let when = chrono::DateTime::from_timestamp_millis(n.at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();

    let mut text = format!("driftd: model `{}` at {when}\n\n", n.group);
    for a in n.firing.iter().chain(&n.resolved) {
        text.push_str(&format!(
            "- {} [{}] {}\n",
            a.rule,
            a.phase.as_str(),
            a.summary
        ));
        if !a.description.is_empty() {
            text.push_str(&format!("  {}\n", a.description));
        }
    }
    text.push_str("\nEvidence:\n");
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([COLUMNS[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    text.push_str(&line(COLUMNS.to_vec()));
    text.push('\n');
    for r in &rows {
        text.push_str(&line(r.iter().map(String::as_str).collect()));
        text.push('\n');
    }
    if let Some(l) = &link {
        text.push_str(&format!("\nDashboard: {l}\n"));
    }

    let mut html = format!(
        "<html><body><h2>driftd: model <code>{}</code></h2><p>{}</p><ul>",
        escape(&n.group),
        escape(&when)
    );
    for a in n.firing.iter().chain(&n.resolved) {
        html.push_str(&format!(
            "<li><b>{}</b> [{}] {}</li>",
            escape(&a.rule),
            a.phase.as_str(),
            escape(&a.summary)
        ));
    }
    html.push_str("</ul><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr>");
    for c in COLUMNS {
        html.push_str(&format!("<th>{c}</th>"));
    }
    html.push_str("</tr>");
    for r in &rows {
        html.push_str("<tr>");
        for c in r {
            html.push_str(&format!("<td>{}</td>", escape(c)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    if let Some(l) = &link {
        html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", escape(l)));
    }
    html.push_str("</body></html>");
    EmailContent {
        subject,
        text,
        html,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(feature: &str, phase: AlertPhase) -> Alert {
        let labels = BTreeMap::from([
            ("alertname".to_string(), "Psi".to_string()),
            ("model".to_string(), "churn".to_string()),
            ("feature".to_string(), feature.to_string()),
            ("window".to_string(), "1h".to_string()),
            ("severity".to_string(), "warning".to_string()),
        ]);
        Alert {
            rule: "Psi".into(),
            labels,
            phase,
            active_at_ms: 0,
            fired_at_ms: Some(0),
            resolved_at_ms: None,
            last_true_ms: 0,
            metric: "psi".into(),
            value: 0.5,
            threshold: 0.2,
            reference: Some(0.0),
            samples: 10,
            summary: format!("psi of {feature} <high>"),
            description: String::new(),
        }
    }

    const S: GroupSettings = GroupSettings {
        group_wait_ms: 30_000,
        group_interval_ms: 60_000,
        repeat_interval_ms: 600_000,
        send_resolved: true,
    };

    #[test]
    fn wait_interval_repeat_resolve() {
        let mut g = Groups::default();
        let age = alert("age", AlertPhase::Firing);
        assert!(g.flush([&age], &S, 0).is_empty(), "group_wait");
        assert!(g.flush([&age], &S, 20_000).is_empty());
        let n = g.flush([&age], &S, 30_000);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].firing.len(), 1);
        // Same alerts: nothing until repeat_interval.
        for t in [90_000, 150_000, 600_000] {
            assert!(g.flush([&age], &S, t).is_empty(), "t={t}");
        }
        // A new alert in the group: sent at the next group_interval boundary.
        let inc = alert("income", AlertPhase::Firing);
        assert!(
            g.flush([&age, &inc], &S, 630_000).is_empty(),
            "interval not over"
        );
        let n = g.flush([&age, &inc], &S, 660_000);
        assert_eq!(n[0].firing.len(), 2, "{n:?}");
        assert!(g.flush([&age, &inc], &S, 720_000).is_empty());
        assert!(g.flush([&age, &inc], &S, 1_200_000).is_empty());
        let n = g.flush([&age, &inc], &S, 1_260_000);
        assert_eq!(n.len(), 1, "repeat_interval after the last e-mail");
        // Both resolve: one resolved e-mail, then the group is gone.
        let (ra, ri) = (
            alert("age", AlertPhase::Resolved),
            alert("income", AlertPhase::Resolved),
        );
        let n = g.flush([&ra, &ri], &S, 1_320_000);
        assert_eq!((n[0].firing.len(), n[0].resolved.len()), (0, 2));
        assert!(g.is_empty());
        assert!(g.flush([&ra, &ri], &S, 1_400_000).is_empty());
        assert!(g.flush([&ra, &ri], &S, 1_500_000).is_empty());
        assert_eq!(g.changes().1, vec!["churn".to_string()]);
    }

    #[test]
    fn resolved_is_silent_without_send_resolved() {
        let s = GroupSettings {
            send_resolved: false,
            ..S
        };
        let mut g = Groups::default();
        let (a, b) = (
            alert("age", AlertPhase::Firing),
            alert("bmi", AlertPhase::Firing),
        );
        assert_eq!(g.flush([&a, &b], &s, 30_000).len(), 0);
        assert_eq!(g.flush([&a, &b], &s, 30_000).len(), 0);
        let mut g = Groups::default();
        g.flush([&a, &b], &s, 0);
        assert_eq!(g.flush([&a, &b], &s, 30_000).len(), 1);
        let rb = alert("bmi", AlertPhase::Resolved);
        assert!(g.flush([&a, &rb], &s, 90_000).is_empty());
    }

    #[test]
    fn email_has_evidence_and_link() {
        let n = Notification {
            group: "churn".into(),
            at_ms: 0,
            firing: vec![alert("age", AlertPhase::Firing)],
            resolved: vec![alert("plan", AlertPhase::Resolved)],
        };
        let e = render_email(&n, Some("http://grafana:3000/"));
        assert_eq!(e.subject, "[FIRING:1] churn: Psi");
        assert!(
            e.text.contains(
                "firing    Psi   all      1h      warning   age      psi     0.5    0.2        0"
            ),
            "{}",
            e.text
        );
        assert!(e
            .text
            .contains("http://grafana:3000/d/driftd-model/driftd-model?var-model=churn"));
        assert!(e.html.contains("&lt;high&gt;"), "escaped");
        assert!(e.html.contains("<td>plan</td>"));
    }
}
