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
use crate::base::time::rfc3339;

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

/// A five-field cron expression (minute hour day-of-month month day-of-week), in UTC.
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n`, and lists; when
/// both day fields are restricted, either matching is enough (as in Vixie cron).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CronSchedule {
    minute: Vec<bool>,
    hour: Vec<bool>,
    day: Vec<bool>,
    month: Vec<bool>,
    weekday: Vec<bool>,
    day_any: bool,
    weekday_any: bool,
}

impl CronSchedule {
    pub fn parse(s: &str) -> Result<CronSchedule, String> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{s}` has {} fields; a cron expression has 5: minute hour day-of-month month day-of-week (e.g. \"0 3 * * 1\")",
                fields.len()
            ));
        }
        let field = |i: usize, name: &str, lo: usize, hi: usize| {
            cron_field(fields[i], lo, hi).map_err(|e| format!("`{s}`: {name}: {e}"))
        };
        let mut weekday = field(4, "day of week", 0, 7)?;
        if weekday[7] {
            weekday[0] = true;
        }
        weekday.truncate(7);
        Ok(CronSchedule {
            minute: field(0, "minute", 0, 59)?,
            hour: field(1, "hour", 0, 23)?,
            day: field(2, "day of month", 1, 31)?,
            month: field(3, "month", 1, 12)?,
            weekday,
            day_any: fields[2] == "*",
            weekday_any: fields[4] == "*",
        })
    }

    fn matches(&self, t: chrono::DateTime<chrono::Utc>) -> bool {
        use chrono::{Datelike, Timelike};
        let day = self.day[t.day() as usize];
        let weekday = self.weekday[t.weekday().num_days_from_sunday() as usize];
        let day_ok = match (self.day_any, self.weekday_any) {
            (true, true) => true,
            (true, false) => weekday,
            (false, true) => day,
            (false, false) => day || weekday,
        };
        self.minute[t.minute() as usize]
            && self.hour[t.hour() as usize]
            && self.month[t.month() as usize]
            && day_ok
    }

    /// The latest scheduled minute in (`after_ms`, `until_ms`], looking back at most a
    /// year: a daemon that was down over several runs requests one retraining, not many.
    pub(crate) fn latest_between(&self, after_ms: i64, until_ms: i64) -> Option<i64> {
        const MIN: i64 = 60_000;
        let mut t = until_ms.div_euclid(MIN) * MIN;
        let floor = after_ms.max(until_ms - 366 * 86_400_000);
        while t > floor {
            if let Some(dt) = chrono::DateTime::from_timestamp_millis(t) {
                if self.matches(dt) {
                    return Some(t);
                }
            }
            t -= MIN;
        }
        None
    }
}

fn cron_field(s: &str, lo: usize, hi: usize) -> Result<Vec<bool>, String> {
    let mut set = vec![false; hi + 1];
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("step `{st}` must be a positive integer"))?,
            ),
            None => (part, 1),
        };
        let num = |x: &str| {
            x.parse::<usize>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| format!("`{x}` is not a number in {lo}..={hi}"))
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a)?, num(b)?)
        } else {
            let a = num(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a > b {
            return Err(format!("range `{range}` is backwards"));
        }
        for v in (a..=b).step_by(step) {
            set[v] = true;
        }
    }
    Ok(set)
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
        let c = CronSchedule::parse("30 3 * * 1").unwrap();
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
        let every = CronSchedule::parse("*/15 * * * *").unwrap();
        assert_eq!(every.latest_between(0, 20 * 60_000), Some(15 * 60_000));
        let either = CronSchedule::parse("0 0 1 * 0").unwrap();
        // 1970-01-04 was a Sunday; the 1st of January a Thursday.
        assert_eq!(
            either.latest_between(0, 4 * 86_400_000),
            Some(3 * 86_400_000)
        );
        for bad in [
            "* * * *",
            "60 * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
        ] {
            assert!(CronSchedule::parse(bad).is_err(), "{bad}");
        }
        assert!(
            CronSchedule::parse("0 0 * * 7").unwrap().weekday[0],
            "7 is Sunday"
        );
    }
}
