//! Retraining requests: what triggers them, the per-model cooldown, schedules, and
//! the CloudEvent they become. Pure; [`crate::alerting`] persists the cooldown state
//! and hands the events to the outbox.
//!
//! Event ids are deterministic (the same trigger always gives the same `id`), so a
//! consumer can drop the rare duplicate that at-least-once delivery lets through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::base::id::stable_id;
use crate::base::time::{rfc3339, Zone};

pub(crate) const EVENT_TYPE: &str = "io.driftd.retrain.requested";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Trigger {
    Drift,
    Performance,
    Schedule,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Drift => "drift",
            Trigger::Performance => "performance",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }

    /// Performance metrics trigger `performance`; everything else `drift`.
    pub(crate) fn for_metric(metric: &str) -> Trigger {
        if crate::stats::performance::is_performance_metric(metric) {
            Trigger::Performance
        } else {
            Trigger::Drift
        }
    }
}

/// One line of evidence: a statistic and the threshold it crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Evidence {
    pub rule: String,
    pub window: String,
    pub feature: Option<String>,
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
    pub reference: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetrainRequest {
    pub model: String,
    pub version: Option<String>,
    pub trigger: Trigger,
    pub rule: Option<String>,
    pub reason: String,
    pub evidence: Vec<Evidence>,
    /// What makes this request unique (e.g. the alert and when it fired); the event
    /// id is derived from it.
    pub identity: Vec<String>,
    pub at_ms: i64,
}

/// How much past data to suggest training on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainingWindow {
    Last(std::time::Duration),
    /// Since the previous retraining request (or the last 30 days if none).
    SinceLastRetrain,
}

/// Cooldown bookkeeping: the time of the last emitted request per model (persisted).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cooldowns {
    last: BTreeMap<String, i64>,
    dirty: std::collections::BTreeSet<String>,
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    Emit(serde_json::Value),
    /// Within the cooldown; retry after `until_ms`.
    Suppressed {
        until_ms: i64,
    },
}

impl Cooldowns {
    pub(crate) fn restored(last: BTreeMap<String, i64>) -> Cooldowns {
        Cooldowns {
            last,
            ..Default::default()
        }
    }

    pub fn last(&self, model: &str) -> Option<i64> {
        self.last.get(model).copied()
    }

    pub fn changes(&self) -> Vec<(String, i64)> {
        self.dirty
            .iter()
            .filter_map(|m| self.last.get(m).map(|t| (m.clone(), *t)))
            .collect()
    }

    pub(crate) fn mark_clean(&mut self) {
        self.dirty.clear();
    }

    /// Emits the request as a CloudEvent unless the model had one within `cooldown_ms`.
    pub(crate) fn decide(
        &mut self,
        req: &RetrainRequest,
        cooldown_ms: i64,
        source: &str,
        window: TrainingWindow,
    ) -> Decision {
        let last = self.last(&req.model);
        if let Some(t) = last {
            if req.at_ms - t < cooldown_ms {
                return Decision::Suppressed {
                    until_ms: t + cooldown_ms,
                };
            }
        }
        self.last.insert(req.model.clone(), req.at_ms);
        self.dirty.insert(req.model.clone());
        Decision::Emit(cloud_event(req, source, window, last))
    }
}

/// A CloudEvents 1.0 event in structured JSON mode.
pub(crate) fn cloud_event(
    req: &RetrainRequest,
    source: &str,
    window: TrainingWindow,
    last_retrain_ms: Option<i64>,
) -> serde_json::Value {
    const DAY_MS: i64 = 86_400_000;
    let start = match window {
        TrainingWindow::Last(d) => req.at_ms - d.as_millis() as i64,
        TrainingWindow::SinceLastRetrain => last_retrain_ms.unwrap_or(req.at_ms - 30 * DAY_MS),
    };
    let mut parts: Vec<&str> = vec!["retrain", &req.model, req.trigger.as_str()];
    parts.extend(req.identity.iter().map(String::as_str));
    json!({
        "specversion": "1.0",
        "id": stable_id(&parts),
        "source": source,
        "type": EVENT_TYPE,
        "subject": req.model,
        "time": rfc3339(req.at_ms),
        "datacontenttype": "application/json",
        "data": {
            "model": req.model,
            "version": req.version,
            "trigger": req.trigger.as_str(),
            "rule": req.rule,
            "reason": req.reason,
            "evidence": req.evidence,
            "training_window": { "start": rfc3339(start), "end": rfc3339(req.at_ms) },
            "previous_request": last_retrain_ms.map(rfc3339),
        }
    })
}

/// A cron schedule: five fields (minute hour day-of-month month day-of-week) with
/// names (`MON`, `JAN`), ranges, steps and lists, or a nickname (`@daily`, `@weekly`,
/// `@monthly`, `@yearly`, `@hourly`), read in a time zone. Parsed and searched by the
/// `croner` crate; the day fields combine as in Vixie cron: when either starts with
/// `*` (`*`, `*/2`) a day must match both, otherwise either is enough.
#[derive(Debug, Clone)]
pub(crate) struct CronSchedule {
    cron: croner::Cron,
    zone: Zone,
}

impl CronSchedule {
    pub fn parse(s: &str, zone: Zone) -> Result<CronSchedule, String> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let nickname = matches!(fields.as_slice(), [one] if one.starts_with('@'));
        if !nickname && fields.len() != 5 {
            return Err(format!(
                "`{s}` has {} fields; a cron expression has 5: minute hour day-of-month month day-of-week (e.g. \"0 3 * * MON\"), or is a nickname such as \"@daily\"",
                fields.len()
            ));
        }
        // Vixie cron's rule (croner reads only a bare `*` as unrestricted).
        let both_days = !nickname && (fields[2].starts_with('*') || fields[4].starts_with('*'));
        let cron = croner::parser::CronParser::builder()
            .dom_and_dow(both_days)
            .build()
            .parse(s)
            .map_err(|e| format!("`{s}`: {e}"))?;
        Ok(CronSchedule { cron, zone })
    }

    /// The latest scheduled minute in (`after_ms`, `until_ms`], looking back at most a
    /// year: a daemon that was down over several runs requests one retraining, not many.
    pub(crate) fn latest_between(&self, after_ms: i64, until_ms: i64) -> Option<i64> {
        let floor = after_ms.max(until_ms - 366 * 86_400_000);
        // Runs are whole minutes: search from the minute `until_ms` falls in.
        let until = chrono::DateTime::from_timestamp_millis(until_ms.div_euclid(60_000) * 60_000)?;
        let previous = match self.zone {
            Zone::Fixed(offset) => self
                .cron
                .find_previous_occurrence(&until.with_timezone(&offset), true)
                .ok()?
                .timestamp_millis(),
            Zone::Iana(tz) => self
                .cron
                .find_previous_occurrence(&until.with_timezone(&tz), true)
                .ok()?
                .timestamp_millis(),
        };
        (previous > floor).then_some(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(at_ms: i64, identity: &str) -> RetrainRequest {
        RetrainRequest {
            model: "churn".into(),
            version: Some("v1".into()),
            trigger: Trigger::Drift,
            rule: Some("Psi".into()),
            reason: "psi".into(),
            evidence: vec![],
            identity: vec![identity.into()],
            at_ms,
        }
    }

    #[test]
    fn cooldown_and_deterministic_ids() {
        let mut c = Cooldowns::default();
        let w = TrainingWindow::Last(std::time::Duration::from_secs(7 * 86_400));
        let Decision::Emit(e) = c.decide(&req(1_000_000, "a"), 600_000, "driftd://x", w) else {
            panic!("first request is emitted")
        };
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["subject"], "churn");
        assert_eq!(e["data"]["trigger"], "drift");
        assert_eq!(e["time"], "1970-01-01T00:16:40.000Z");
        assert_eq!(
            e["data"]["training_window"]["start"],
            "1969-12-25T00:16:40.000Z"
        );
        assert_eq!(
            c.decide(&req(1_500_000, "b"), 600_000, "driftd://x", w),
            Decision::Suppressed {
                until_ms: 1_600_000
            }
        );
        let Decision::Emit(e2) = c.decide(&req(1_600_000, "b"), 600_000, "driftd://x", w) else {
            panic!("after the cooldown")
        };
        assert_ne!(e["id"], e2["id"]);
        assert_eq!(e2["data"]["previous_request"], "1970-01-01T00:16:40.000Z");
        let again = cloud_event(&req(1_000_000, "a"), "driftd://x", w, None);
        assert_eq!(again["id"], e["id"], "same trigger, same id");
        let since = cloud_event(
            &req(2_000_000, "c"),
            "s",
            TrainingWindow::SinceLastRetrain,
            Some(5),
        );
        assert_eq!(
            since["data"]["training_window"]["start"],
            "1970-01-01T00:00:00.005Z"
        );
    }

    #[test]
    fn cron() {
        let utc = Zone::utc();
        let parse = |s: &str| CronSchedule::parse(s, utc).unwrap();
        let c = parse("30 3 * * 1");
        // 1970-01-05 was a Monday.
        let monday_0330 = (4 * 86_400 + 3 * 3600 + 1800) * 1000;
        assert_eq!(c.latest_between(0, monday_0330 + 59_000), Some(monday_0330));
        assert_eq!(
            c.latest_between(monday_0330, monday_0330 + 86_400_000),
            None
        );
        assert_eq!(
            c.latest_between(0, monday_0330 + 7 * 86_400_000),
            Some(monday_0330 + 7 * 86_400_000),
            "the latest of two missed runs"
        );
        assert_eq!(
            parse("30 3 * * MON").latest_between(0, monday_0330 + 59_000),
            Some(monday_0330),
            "names"
        );
        let every = parse("*/15 * * * *");
        assert_eq!(every.latest_between(0, 20 * 60_000), Some(15 * 60_000));
        let day = 86_400_000;
        // Both day fields restricted: either (the 1st, a Thursday, or a Sunday).
        let either = parse("0 0 1 * 0");
        assert_eq!(either.latest_between(0, 4 * day), Some(3 * day));
        assert_eq!(either.latest_between(-1, 2 * day), Some(0), "the 1st");
        // A day field starting with `*` (crontab(5): "*/2"): both must match. Odd days
        // of January 1970 that are Sundays: the 11th (day index 10), not the 4th.
        let both = parse("0 0 */2 * SUN");
        assert_eq!(both.latest_between(0, 12 * day), Some(10 * day));
        assert_eq!(both.latest_between(0, 9 * day), None);
        // Nicknames.
        assert_eq!(
            parse("@daily").latest_between(0, 3 * day + 5),
            Some(3 * day)
        );
        assert_eq!(
            parse("@weekly").latest_between(0, 5 * day),
            Some(3 * day),
            "Sunday"
        );
        // In a zone: 03:30 in Berlin (UTC+1 in January) is 02:30 UTC.
        let berlin = CronSchedule::parse("30 3 * * *", "Europe/Berlin".parse().unwrap()).unwrap();
        assert_eq!(
            berlin.latest_between(0, 2 * day),
            Some(day + (2 * 3600 + 1800) * 1000)
        );
        for bad in [
            "* * * *",
            "0 * * * * *",
            "60 * * * *",
            "*/0 * * * *",
            "a * * * *",
            "@fortnightly",
        ] {
            assert!(CronSchedule::parse(bad, utc).is_err(), "{bad}");
        }
        // 7 is Sunday too.
        assert_eq!(parse("0 0 * * 7").latest_between(0, 4 * day), Some(3 * day));
    }
}
