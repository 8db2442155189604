//! Alert notifications, grouped the way Alertmanager groups them. Pure: alerts, group
//! state and a `now` in; notifications to send out. Delivery is the outbox sender's (a layer above).
//!
//! Alerts of rules with the `email` action are grouped per model. A new group waits
//! `group_wait` (to collect alerts that fire together) and sends; afterwards it is
//! looked at every `group_interval` and sends when alerts were added, or resolved
//! (with `send_resolved`), or `repeat_interval` passed since the last e-mail while
//! alerts are still firing. A group whose alerts are all resolved is removed once
//! that has been notified.
//!
//! - [`group`]: alerts → notifications ([`Groups`], [`GroupSettings`])
//! - [`email`]: a notification → an e-mail body ([`render_email`])
//! - [`alertmanager`]: alerts → Alertmanager pushes, as Prometheus sends them
//!   ([`needs_sending`](alertmanager::needs_sending), [`push_body`](alertmanager::push_body))
//! - [`silence`]: silences (label matchers, start, end) that keep alerts out of e-mails
//! - [`entry`]: what is written to the durable outbox ([`OutboxEntry`], [`Action`]);
//!   the store persists entries and the sender delivers them

pub mod alertmanager;
pub mod email;
pub mod entry;
pub mod group;
pub mod silence;

pub(crate) use email::render_email;
pub(crate) use email::{EmailChart, EmailContent};
pub(crate) use entry::{Action, OutboxEntry};
pub(crate) use group::{GroupBy, GroupSettings, GroupState, Groups, Notification};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::rules::alert::{Alert, AlertPhase};

    #[test]
    fn the_model_of_a_group_key_is_read_back() {
        for model in ["churn", "a\"b", "x,model=\"y\"", "back\\slash", ""] {
            let labels: BTreeMap<String, String> = [
                ("alertname".to_string(), "feature=\"q\"".to_string()),
                ("model".to_string(), model.to_string()),
                ("zone".to_string(), "eu".to_string()),
            ]
            .into();
            assert_eq!(
                group::model_of_group_key(&group::group_key(&labels)).as_deref(),
                Some(model)
            );
        }
        assert_eq!(group::model_of_group_key("{}"), None);
        assert_eq!(group::model_of_group_key("{severity=\"page\"}"), None);
    }

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
            keep_firing_since_ms: None,
            metric: "psi".into(),
            value: 0.5,
            threshold: 0.2,
            reference: Some(0.0),
            baseline: None,
            samples: 10,
            annotations: [("summary".to_string(), format!("psi of {feature} <high>"))].into(),
        }
    }

    const NONE: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

    const S: GroupSettings = GroupSettings {
        group_wait_ms: 30_000,
        group_interval_ms: 60_000,
        repeat_interval_ms: 600_000,
        send_resolved: true,
        group_by: GroupBy::Labels(Vec::new()),
    };

    fn by_model() -> GroupSettings {
        GroupSettings {
            group_by: GroupBy::Labels(vec!["model".into()]),
            ..S.clone()
        }
    }

    #[test]
    fn wait_interval_repeat_resolve() {
        let mut g = Groups::default();
        let age = alert("age", AlertPhase::Firing);
        assert!(
            g.flush([&age], &NONE, &by_model(), 0).is_empty(),
            "group_wait"
        );
        assert!(g.flush([&age], &NONE, &by_model(), 20_000).is_empty());
        let n = g.flush([&age], &NONE, &by_model(), 30_000);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].firing.len(), 1);
        // Same alerts: nothing until repeat_interval.
        for t in [90_000, 150_000, 600_000] {
            assert!(g.flush([&age], &NONE, &by_model(), t).is_empty(), "t={t}");
        }
        // A new alert in the group: sent at the next group_interval boundary.
        let inc = alert("income", AlertPhase::Firing);
        assert!(
            g.flush([&age, &inc], &NONE, &by_model(), 630_000)
                .is_empty(),
            "interval not over"
        );
        let n = g.flush([&age, &inc], &NONE, &by_model(), 660_000);
        assert_eq!(n[0].firing.len(), 2, "{n:?}");
        assert!(g
            .flush([&age, &inc], &NONE, &by_model(), 720_000)
            .is_empty());
        assert!(g
            .flush([&age, &inc], &NONE, &by_model(), 1_200_000)
            .is_empty());
        let n = g.flush([&age, &inc], &NONE, &by_model(), 1_260_000);
        assert_eq!(n.len(), 1, "repeat_interval after the last e-mail");
        // Both resolve: one resolved e-mail, then the group is gone.
        let (ra, ri) = (
            alert("age", AlertPhase::Resolved),
            alert("income", AlertPhase::Resolved),
        );
        let n = g.flush([&ra, &ri], &NONE, &by_model(), 1_320_000);
        assert_eq!((n[0].firing.len(), n[0].resolved.len()), (0, 2));
        assert!(g.is_empty());
        assert!(g
            .flush([&ra, &ri], &NONE, &by_model(), 1_400_000)
            .is_empty());
        assert!(g
            .flush([&ra, &ri], &NONE, &by_model(), 1_500_000)
            .is_empty());
        assert_eq!(g.changes().1, vec!["{model=\"churn\"}".to_string()]);
    }

    #[test]
    fn a_silenced_alert_sends_nothing_and_lifting_the_silence_resumes() {
        let mut g = Groups::default();
        let (age, inc) = (
            alert("age", AlertPhase::Firing),
            alert("income", AlertPhase::Firing),
        );
        let muted: std::collections::BTreeSet<String> = [inc.fingerprint()].into();
        g.flush([&age, &inc], &muted, &by_model(), 0);
        let n = g.flush([&age, &inc], &muted, &by_model(), 30_000);
        assert_eq!(n[0].firing.len(), 1, "only the unsilenced alert: {n:?}");
        // Only silenced alerts left firing: no e-mail, not even at repeat_interval, and
        // no "resolved" for the silenced one.
        let ra = alert("age", AlertPhase::Resolved);
        let all: std::collections::BTreeSet<String> = [inc.fingerprint()].into();
        let n = g.flush([&ra, &inc], &all, &by_model(), 90_000);
        assert_eq!(
            (n[0].firing.len(), n[0].resolved.len()),
            (0, 1),
            "age resolved"
        );
        for t in [150_000, 700_000, 1_300_000] {
            assert!(g.flush([&inc], &all, &by_model(), t).is_empty(), "t={t}");
        }
        assert!(
            !g.is_empty(),
            "the group stays while it has a silenced alert"
        );
        // The silence ends: income is new to the e-mail, sent at the next interval.
        let n = g.flush([&inc], &NONE, &by_model(), 1_360_000);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].firing[0].label("feature"), Some("income"));
    }

    #[test]
    fn group_by_chooses_the_groups() {
        let mut other = alert("age", AlertPhase::Firing);
        other.labels.insert("model".into(), "fraud".into());
        let (age, inc) = (
            alert("age", AlertPhase::Firing),
            alert("income", AlertPhase::Firing),
        );
        let count = |group_by: GroupBy| {
            let s = GroupSettings {
                group_by,
                ..S.clone()
            };
            let mut g = Groups::default();
            assert!(g.flush([&age, &inc, &other], &NONE, &s, 0).is_empty());
            let n = g.flush([&age, &inc, &other], &NONE, &s, 30_000);
            n.iter()
                .map(|n| (n.group.clone(), n.firing.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(count(GroupBy::Labels(vec![])), [("{}".to_string(), 3)]);
        assert_eq!(
            count(GroupBy::Labels(vec!["model".into()])),
            [
                ("{model=\"churn\"}".to_string(), 2),
                ("{model=\"fraud\"}".to_string(), 1)
            ]
        );
        let by_feature = count(GroupBy::Labels(vec!["feature".into(), "model".into()]));
        assert_eq!(by_feature.len(), 3);
        assert!(by_feature.iter().all(|(_, n)| *n == 1));
        assert_eq!(count(GroupBy::All).len(), 3);
    }

    #[test]
    fn groups_stored_under_a_model_name_become_model_groups() {
        let old = GroupState {
            key: "churn".into(),
            created_ms: 0,
            last_flush_ms: Some(30_000),
            last_sent_ms: Some(30_000),
            notified_firing: [alert("age", AlertPhase::Firing).fingerprint()].into(),
        };
        let mut g = Groups::restored([old]);
        let (dirty, removed) = g.changes();
        assert_eq!(dirty[0].key, "{model=\"churn\"}");
        assert_eq!(removed, ["churn"]);
        // Already notified: no e-mail again before the repeat interval.
        let age = alert("age", AlertPhase::Firing);
        assert!(g.flush([&age], &NONE, &by_model(), 120_000).is_empty());
        assert_eq!(g.flush([&age], &NONE, &by_model(), 630_000).len(), 1);
    }

    #[test]
    fn resolved_is_silent_without_send_resolved() {
        let s = GroupSettings {
            send_resolved: false,
            ..by_model()
        };
        let mut g = Groups::default();
        let (a, b) = (
            alert("age", AlertPhase::Firing),
            alert("bmi", AlertPhase::Firing),
        );
        assert_eq!(g.flush([&a, &b], &NONE, &s, 30_000).len(), 0);
        assert_eq!(g.flush([&a, &b], &NONE, &s, 30_000).len(), 0);
        let mut g = Groups::default();
        g.flush([&a, &b], &NONE, &s, 0);
        assert_eq!(g.flush([&a, &b], &NONE, &s, 30_000).len(), 1);
        let rb = alert("bmi", AlertPhase::Resolved);
        assert!(g.flush([&a, &rb], &NONE, &s, 90_000).is_empty());
    }

    #[test]
    fn email_has_evidence_and_link() {
        let n = Notification {
            group: "{model=\"churn\"}".into(),
            group_labels: [("model".to_string(), "churn".to_string())].into(),
            at_ms: 0,
            firing: vec![alert("age", AlertPhase::Firing)],
            resolved: vec![alert("plan", AlertPhase::Resolved)],
        };
        let (e, _) = render_email(&n, Some("http://grafana:3000/"), &[]);
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

        // A model name with a slash, a space, `&` and `#` stays one query value; a base
        // with a path prefix keeps it.
        let mut n = n;
        for a in n.firing.iter_mut().chain(n.resolved.iter_mut()) {
            a.labels.insert("model".into(), "fraud/eu v2&x#1".into());
        }
        let (e, _) = render_email(&n, Some("https://ops.example.com/grafana/"), &[]);
        let want = "https://ops.example.com/grafana/d/driftd-model/driftd-model?var-model=fraud%2Feu+v2%26x%231";
        assert!(e.text.contains(want), "{}", e.text);
    }

    fn chart(feature: &str, categories: usize) -> EmailChart {
        use crate::chart::{Bars, Distribution, Series};
        let shares = |shift: usize| {
            (0..categories)
                .map(|i| ((i + shift) % categories + 1) as f64 / categories as f64)
                .collect::<Vec<_>>()
        };
        EmailChart {
            feature: feature.into(),
            window: "1h".into(),
            distribution: Distribution::Categorical(Bars {
                labels: (0..categories).map(|i| format!("category-{i}")).collect(),
                reference: shares(0),
                current: shares(3),
                hidden: 0,
            }),
            history: Some(Series {
                metric: "psi".into(),
                points: (0..36)
                    .map(|i| (i * 600_000, (i != 7).then_some(i as f64 / 50.0)))
                    .collect(),
                threshold: Some(0.2),
            }),
        }
    }

    #[test]
    fn charts_are_inline_pngs_named_by_the_html_within_the_budget() {
        let n = Notification {
            group: "{model=\"churn\"}".into(),
            group_labels: [("model".to_string(), "churn".to_string())].into(),
            at_ms: 0,
            firing: vec![alert("plan", AlertPhase::Firing)],
            resolved: vec![],
        };
        let (e, omitted) = render_email(&n, None, &[chart("plan", 16)]);
        assert_eq!(omitted, 0);
        assert_eq!(e.images.len(), 2);
        for img in &e.images {
            assert!(
                e.html.contains(&format!("src=\"cid:{}\"", img.cid)),
                "{}",
                e.html
            );
            let (w, h) = crate::chart::png::dimensions(&img.png).unwrap();
            assert!(e.html.contains(&format!("width=\"{w}\" height=\"{h}\"")));
        }
        assert!(e.text.contains("plan psi per 10m: "), "{}", e.text);
        assert!(
            e.text.contains('·'),
            "the period without a value: {}",
            e.text
        );
        // The same notification gets the same Content-IDs (a retried entry is the same).
        let (again, _) = render_email(&n, None, &[chart("plan", 16)]);
        assert_eq!(again, e);
        // Stored as JSON in the outbox and read back whole.
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<EmailContent>(&json).unwrap(), e);

        // Many feature charts: those past the budget are left out and said so.
        let many: Vec<EmailChart> = (0..40).map(|i| chart(&format!("f{i}"), 16)).collect();
        let (e, omitted) = render_email(&n, None, &many);
        let bytes: usize = e.images.iter().map(|i| i.png.len()).sum();
        assert!(
            omitted > 0 && bytes <= email::EMAIL_IMAGE_BUDGET,
            "{omitted} {bytes}"
        );
        assert_eq!(e.images.len(), 2 * (40 - omitted));
        assert!(
            e.text.contains(&format!("{omitted} chart(s) left out")),
            "{}",
            e.text
        );
        if let Ok(dir) = std::env::var("DRIFTD_CHART_DIR") {
            std::fs::write(format!("{dir}/email-0.png"), &e.images[0].png).unwrap();
            std::fs::write(format!("{dir}/email-1.png"), &e.images[1].png).unwrap();
        }
    }

    #[test]
    fn a_stored_email_without_images_still_reads() {
        let old = r#"{"subject":"s","text":"t","html":"h"}"#;
        let e: EmailContent = serde_json::from_str(old).unwrap();
        assert!(e.images.is_empty());
    }
}
