//! Silences for the built-in e-mail, as Alertmanager defines them: label matchers
//! (`name=value`, `name!=value`, `name=~regex`, `name!~regex`, regexes anchored), a
//! start and an end, an author and a comment. An alert is silenced while a silence
//! is active (start ≤ now < end) and all its matchers match the alert's labels; a
//! silenced alert sends no e-mail, neither firing nor resolved. Pure: silences,
//! labels and `now` in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher; a missing label matches as the empty string (as in Alertmanager).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored regex of `=~`/`!~`, compiled at the first match (silences are
    /// matched against every alert at every evaluation).
    #[serde(skip)]
    compiled: std::sync::OnceLock<Option<regex::Regex>>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// Parses `name=value`, `name!=value`, `name=~regex` or `name!~regex` (the value
    /// may be quoted).
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let at = s.find(['=', '!']).ok_or_else(|| {
            format!("`{s}` is not a matcher such as model=churn or feature=~\"a.*\"")
        })?;
        let (name, rest) = s.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(format!("`{s}`: the operator is one of =, !=, =~, !~"));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{s}`: `{name}` is not a label name"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .to_string();
        let m = Matcher {
            name: name.to_string(),
            op,
            value,
            compiled: Default::default(),
        };
        if matches!(op, MatchOp::Regex | MatchOp::NotRegex) {
            regex::Regex::new(&m.anchored()).map_err(|e| format!("`{s}`: {e}"))?;
        }
        Ok(m)
    }

    fn anchored(&self) -> String {
        format!("^(?:{})$", self.value)
    }

    /// `None` only for a stored matcher whose regex no longer compiles: it matches
    /// nothing, as a silence that cannot be evaluated must not hide alerts.
    fn regex(&self) -> Option<&regex::Regex> {
        self.compiled
            .get_or_init(|| regex::Regex::new(&self.anchored()).ok())
            .as_ref()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => self.regex().is_some_and(|r| !r.is_match(v)),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn active(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    /// `active`, `pending` (starts later) or `expired`.
    pub fn state(&self, now_ms: i64) -> &'static str {
        if now_ms < self.starts_at_ms {
            "pending"
        } else if now_ms < self.ends_at_ms {
            "active"
        } else {
            "expired"
        }
    }

    pub fn silences(&self, labels: &BTreeMap<String, String>, now_ms: i64) -> bool {
        self.active(now_ms) && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// A silence as `POST /api/v1/silences` and `driftd silence add` ask for it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
    pub matchers: Vec<String>,
    /// RFC 3339 or epoch ms; default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339 or epoch ms; or give `duration`.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// From the start, e.g. "2h".
    #[serde(default)]
    pub duration: Option<String>,
    pub created_by: String,
    pub comment: String,
}

impl SilenceRequest {
    /// The silence asked for (its id is given when it is stored), or why not.
    pub fn into_silence(self, now_ms: i64) -> Result<Silence, String> {
        use crate::base::time::{parse_duration, parse_timestamp};
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher, e.g. model=churn".into());
        }
        let matchers = self
            .matchers
            .iter()
            .map(|m| Matcher::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        let when = |field: &str, v: &str| {
            parse_timestamp(v).ok_or_else(|| format!("{field} `{v}` is not RFC 3339 or epoch ms"))
        };
        let starts_at_ms = match &self.starts_at {
            Some(v) => when("starts_at", v)?,
            None => now_ms,
        };
        let ends_at_ms = match (&self.ends_at, &self.duration) {
            (Some(v), None) => when("ends_at", v)?,
            (None, Some(d)) => {
                let d = parse_duration(d)?;
                starts_at_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            }
            _ => return Err("give exactly one of ends_at or duration".into()),
        };
        if ends_at_ms <= starts_at_ms.max(now_ms) {
            return Err("the silence would end before it starts (or in the past)".into());
        }
        if self.created_by.trim().is_empty() || self.comment.trim().is_empty() {
            return Err("say who silences (created_by) and why (comment)".into());
        }
        Ok(Silence {
            id: String::new(),
            matchers,
            starts_at_ms,
            ends_at_ms,
            created_by: self.created_by,
            comment: self.comment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matchers_as_alertmanager_reads_them() {
        let l = labels(&[("model", "churn"), ("feature", "age")]);
        let m = |s: &str| Matcher::parse(s).unwrap().matches(&l);
        assert!(m("model=churn"));
        assert!(m("model=\"churn\""));
        assert!(!m("model!=churn"));
        assert!(m("feature=~a.e"));
        assert!(!m("feature=~a"), "anchored");
        assert!(m("feature!~inc.*"));
        assert!(m("version=\"\""), "a missing label is empty");
        assert!(!m("version=~.+"));
        for bad in ["model", "=churn", "mo del=x", "feature=~(", "model<churn"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_are_validated() {
        let req = |matchers: &[&str], duration: Option<&str>, comment: &str| SilenceRequest {
            matchers: matchers.iter().map(|m| m.to_string()).collect(),
            starts_at: None,
            ends_at: None,
            duration: duration.map(str::to_string),
            created_by: "ops".into(),
            comment: comment.into(),
        };
        let s = req(&["model=churn"], Some("2h"), "migration")
            .into_silence(1_000)
            .unwrap();
        assert_eq!((s.starts_at_ms, s.ends_at_ms), (1_000, 1_000 + 7_200_000));
        assert!(req(&[], Some("2h"), "x").into_silence(0).is_err());
        assert!(req(&["model"], Some("2h"), "x").into_silence(0).is_err());
        assert!(req(&["model=a"], None, "x").into_silence(0).is_err());
        assert!(req(&["model=a"], Some("2h"), " ").into_silence(0).is_err());
        let mut past = req(&["model=a"], None, "x");
        past.ends_at = Some("1970-01-01T00:00:01Z".into());
        assert!(past.into_silence(5_000).is_err());
    }

    #[test]
    fn a_silence_applies_while_active_and_every_matcher_matches() {
        let s = Silence {
            id: "s1".into(),
            matchers: vec![
                Matcher::parse("model=churn").unwrap(),
                Matcher::parse("feature=~a.*").unwrap(),
            ],
            starts_at_ms: 100,
            ends_at_ms: 200,
            created_by: "ops".into(),
            comment: "migration".into(),
        };
        let age = labels(&[("model", "churn"), ("feature", "age")]);
        let plan = labels(&[("model", "churn"), ("feature", "plan")]);
        assert!(!s.silences(&age, 99));
        assert!(s.silences(&age, 100));
        assert!(!s.silences(&plan, 150));
        assert!(!s.silences(&age, 200), "expired at its end");
        assert_eq!(s.state(50), "pending");
        assert_eq!(s.state(150), "active");
        assert_eq!(s.state(250), "expired");
    }
}
