//! Rule files: TOML, one `[[rule]]` table per rule (see `docs/rules.md`).
//!
//! Parsing is in two steps so that every error names the file, the line, the rule and
//! the key: serde checks the shape (unknown keys, types), then [`validate`] checks the
//! values, using the spans that [`toml::Spanned`] keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::sample::{feature_metrics, is_model_metric, model_metrics, Sample, DEPLOYMENT_METRICS};
use super::template;
use crate::base::text::line_of;
use crate::base::time::parse_duration;

pub(crate) const SEVERITIES: &[&str] = &["critical", "warning", "info"];
pub(crate) const ACTIONS: &[&str] = &["email", "retrain"];
/// A rule-file problem, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RulesError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub rule: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule `{rule}`")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// An absolute threshold.
    Value(f64),
    /// The sample-size-aware PSI critical value (`> critical`).
    Critical,
    /// The reference value or a deployment's baseline value, scaled and shifted:
    /// `reference * 0.95`, `reference + 0.1`, `baseline * 0.97`.
    Relative {
        to: RelativeTo,
        scale: f64,
        shift: f64,
    },
}

/// What a relative bound scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelativeTo {
    /// The sample's reference value (profile, rolling period, `reference_metrics`).
    Reference,
    /// The same statistic of the deployment's baseline arm over the same window (a
    /// rule with `deployments`).
    Baseline,
}

impl RelativeTo {
    fn name(self) -> &'static str {
        match self {
            RelativeTo::Reference => "reference",
            RelativeTo::Baseline => "baseline",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub op: Op,
    pub bound: Bound,
}

impl Condition {
    /// The threshold for this sample; `None` when it needs a reference value or a
    /// critical value that the sample does not have (the rule is then not evaluated).
    pub fn threshold(&self, s: &Sample) -> Option<f64> {
        match self.bound {
            Bound::Value(v) => Some(v),
            Bound::Critical => s.critical,
            Bound::Relative { to, scale, shift } => match to {
                RelativeTo::Reference => s.reference,
                RelativeTo::Baseline => s.baseline,
            }
            .map(|r| r * scale + shift),
        }
    }

    pub fn holds(&self, value: f64, threshold: f64) -> bool {
        match self.op {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    /// `> 0.2`, `>= critical`, `< reference * 0.95`, `> reference + 100`.
    pub fn parse(s: &str) -> Result<Condition, String> {
        let s = s.trim();
        let (op, rest) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
            .iter()
            .find_map(|(t, op)| s.strip_prefix(t).map(|r| (*op, r.trim())))
            .ok_or_else(|| {
                format!("`{s}` must start with >, >=, < or <= (e.g. \"> 0.2\", \"< reference * 0.95\", \"> critical\")")
            })?;
        let relative = [RelativeTo::Reference, RelativeTo::Baseline]
            .into_iter()
            .find_map(|to| rest.strip_prefix(to.name()).map(|tail| (to, tail.trim())));
        let bound = if rest == "critical" {
            Bound::Critical
        } else if let Some((to, tail)) = relative {
            let expected = || {
                let n = to.name();
                format!("`{rest}`: expected `{n}`, `{n} * <number>` or `{n} ± <number>`")
            };
            if tail.is_empty() {
                Bound::Relative {
                    to,
                    scale: 1.0,
                    shift: 0.0,
                }
            } else {
                // The first character, not byte: `reference − 0.05` has a 3-byte minus.
                let first = tail.chars().next().map_or(0, char::len_utf8);
                let (sym, num) = tail.split_at(first);
                let k: f64 = num.trim().parse().map_err(|_| expected())?;
                let (scale, shift) = match sym {
                    "*" => (k, 0.0),
                    "+" => (1.0, k),
                    "-" => (1.0, -k),
                    _ => return Err(expected()),
                };
                if !k.is_finite() {
                    return Err(expected());
                }
                Bound::Relative { to, scale, shift }
            }
        } else {
            let v: f64 = rest.parse().map_err(|_| {
                format!("`{rest}` is not a number, `critical`, `reference …` or `baseline …`")
            })?;
            if !v.is_finite() {
                return Err(format!("`{rest}` is not a finite number"));
            }
            Bound::Value(v)
        };
        Ok(Condition { op, bound })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        };
        match self.bound {
            Bound::Value(v) => write!(f, "{op} {v}"),
            Bound::Critical => write!(f, "{op} critical"),
            Bound::Relative { to, shift, .. } if shift != 0.0 => {
                write!(
                    f,
                    "{op} {} {} {}",
                    to.name(),
                    if shift > 0.0 { "+" } else { "-" },
                    shift.abs()
                )
            }
            Bound::Relative { to, scale, .. } if scale != 1.0 => {
                write!(f, "{op} {} * {scale}", to.name())
            }
            Bound::Relative { to, .. } => write!(f, "{op} {}", to.name()),
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub file: PathBuf,
    pub models: Vec<String>,
    /// `Some`: a feature metric, evaluated per matching feature.
    pub features: Option<Vec<String>>,
    /// `Some`: evaluated per matching version; `None`: all versions merged.
    pub versions: Option<Vec<String>>,
    /// `Some`: a deployment metric, or a version-relative one, evaluated per matching
    /// deployment.
    pub deployments: Option<Vec<String>>,
    /// `Some`: a performance metric evaluated per matching value of
    /// `[labels] segment_key`.
    pub segments: Option<Vec<String>>,
    pub metric: String,
    pub window: String,
    pub condition: Condition,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub min_samples: u64,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    /// Annotation templates by name (`summary` always present), rendered per alert by
    /// [`super::template`].
    pub annotations: BTreeMap<String, String>,
    pub email: bool,
    pub retrain: bool,
}

/// Every rule of the loaded files, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub files: Vec<PathBuf>,
    /// `$externalURL` in templates: driftd's API as others reach it.
    pub external_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileSpec {
    #[serde(rename = "rule", default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: Spanned<String>,
    #[serde(default)]
    models: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    features: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    versions: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    deployments: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    segments: Option<Spanned<Vec<String>>>,
    metric: Spanned<String>,
    window: Spanned<String>,
    condition: Spanned<String>,
    #[serde(rename = "for", default)]
    for_: Option<Spanned<String>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    min_samples: u64,
    #[serde(default)]
    severity: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Shorthand for `annotations.summary`.
    #[serde(default)]
    summary: Option<Spanned<String>>,
    /// Shorthand for `annotations.description`.
    #[serde(default)]
    description: Option<Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    actions: Option<Spanned<Vec<String>>>,
}

/// Label names an alert sets itself; a rule's `labels` may not override them.
const RESERVED_LABELS: &[&str] = &[
    "alertname",
    "model",
    "version",
    "feature",
    "deployment",
    "segment",
    "window",
    "severity",
];

/// Loads every rule file in `paths` (files, or directories whose `*.toml` files are
/// read in name order, not recursively). `windows`: the configured window names; a
/// rule's window must be one of them (`None`: any duration).
pub(crate) fn load_rules(
    paths: &[PathBuf],
    windows: Option<&[String]>,
) -> Result<RuleSet, RulesError> {
    let mut set = RuleSet::default();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in paths {
        for file in rule_files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|e| RulesError {
                file: file.clone(),
                line: None,
                rule: None,
                key: None,
                message: e.to_string(),
            })?;
            for rule in parse_rules(&file, &text, windows)? {
                if let Some(first) = names.insert(rule.name.clone(), file.clone()) {
                    return Err(RulesError {
                        file: file.clone(),
                        line: None,
                        rule: Some(rule.name.clone()),
                        key: Some("name".into()),
                        message: format!("the name is already used in {}", first.display()),
                    });
                }
                set.rules.push(rule);
            }
            set.files.push(file);
        }
    }
    Ok(set)
}

fn rule_files(path: &Path) -> Result<Vec<PathBuf>, RulesError> {
    let err = |e: std::io::Error| RulesError {
        file: path.to_path_buf(),
        line: None,
        rule: None,
        key: None,
        message: e.to_string(),
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        std::fs::metadata(path).map_err(err)?;
        Ok(vec![path.to_path_buf()])
    }
}

/// Parses and validates one file's text.
pub fn parse_rules(
    file: &Path,
    text: &str,
    windows: Option<&[String]>,
) -> Result<Vec<Rule>, RulesError> {
    let spec: RuleFileSpec = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start);
        RulesError {
            file: file.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            rule: offset.and_then(|o| rule_name_around(text, o)),
            key: offset.and_then(|o| key_at(text, o)),
            message: e.message().trim().to_string(),
        }
    })?;
    spec.rules
        .into_iter()
        .map(|r| validate(file, text, r, windows))
        .collect()
}

fn validate(
    file: &Path,
    text: &str,
    r: RuleSpec,
    windows: Option<&[String]>,
) -> Result<Rule, RulesError> {
    let name = r.name.get_ref().clone();
    let fail = |span: std::ops::Range<usize>, key: &str, message: String| RulesError {
        file: file.to_path_buf(),
        line: Some(line_of(text, span.start)),
        rule: Some(name.clone()),
        key: Some(key.to_string()),
        message,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(fail(
            r.name.span(),
            "name",
            "must be non-empty and use only letters, digits, `_` and `-`".into(),
        ));
    }
    let metric = r.metric.get_ref().clone();
    let is_model = is_model_metric(&metric);
    let is_feature = feature_metrics().contains(&metric.as_str());
    let is_deployment = DEPLOYMENT_METRICS.contains(&metric.as_str());
    if !is_model && !is_feature && !is_deployment {
        return Err(fail(
            r.metric.span(),
            "metric",
            format!(
                "unknown metric `{metric}`; model metrics: {}; feature metrics: {}; deployment metrics: {}",
                model_metrics().join(", "),
                feature_metrics().join(", "),
                DEPLOYMENT_METRICS.join(", ")
            ),
        ));
    }
    // A deployment metric needs `deployments`; any other metric may have them: it is
    // then the candidate arm's, compared with the baseline's (version-relative).
    let deployments = match &r.deployments {
        None if is_deployment => {
            return Err(fail(
                r.metric.span(),
                "deployments",
                format!("`{metric}` is a deployment metric: add e.g. deployments = [\"*\"]"),
            ))
        }
        None => None,
        Some(l) => Some(globs(l, "deployments", &fail)?),
    };
    let segments = match &r.segments {
        None => None,
        Some(l)
            if !crate::stats::performance::PERFORMANCE_METRICS
                .iter()
                .any(|m| m.name == metric) =>
        {
            return Err(fail(
                l.span(),
                "segments",
                format!(
                    "`{metric}` is not a performance metric: segments break down performance only"
                ),
            ))
        }
        Some(l) if deployments.is_some() => {
            return Err(fail(
                l.span(),
                "segments",
                "a deployment compares whole arms: remove `segments`".into(),
            ))
        }
        Some(l) => Some(globs(l, "segments", &fail)?),
    };
    if let (Some(_), Some(v)) = (&deployments, &r.versions) {
        return Err(fail(
            v.span(),
            "versions",
            "a deployment compares its own versions: remove `versions`".into(),
        ));
    }
    let features = selector(
        &r.features,
        is_feature,
        "features",
        (&r.metric, "a feature metric", "a model metric"),
        &fail,
    )?;
    let models = match &r.models {
        Some(m) => globs(m, "models", &fail)?,
        None => vec!["*".to_string()],
    };
    let versions = r
        .versions
        .as_ref()
        .map(|v| globs(v, "versions", &fail))
        .transpose()?;
    let window = r.window.get_ref().clone();
    let window_ms = parse_duration(&window)
        .map_err(|e| fail(r.window.span(), "window", e))?
        .as_millis() as i64;
    if window_ms == 0 {
        return Err(fail(
            r.window.span(),
            "window",
            "must be longer than 0".into(),
        ));
    }
    if let Some(known) = windows {
        if !known.contains(&window) {
            return Err(fail(
                r.window.span(),
                "window",
                format!(
                    "`{window}` is not one of the configured [windows] windows: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let condition = Condition::parse(r.condition.get_ref())
        .map_err(|e| fail(r.condition.span(), "condition", e))?;
    if condition.bound == Bound::Critical && metric != "psi" {
        return Err(fail(
            r.condition.span(),
            "condition",
            format!("`critical` is the PSI critical value; `{metric}` has none"),
        ));
    }
    if let Bound::Relative {
        to: RelativeTo::Baseline,
        ..
    } = condition.bound
    {
        if deployments.is_none() || is_deployment {
            return Err(fail(
                r.condition.span(),
                "condition",
                format!(
                    "`baseline` is the baseline arm's `{metric}` in a deployment: {}",
                    if is_deployment {
                        "a verdict has none"
                    } else {
                        "add e.g. deployments = [\"*\"]"
                    }
                ),
            ));
        }
    }
    let duration = |d: &Option<Spanned<String>>, key: &str| -> Result<i64, RulesError> {
        match d {
            None => Ok(0),
            Some(s) => parse_duration(s.get_ref())
                .map(|d| d.as_millis() as i64)
                .map_err(|e| fail(s.span(), key, e)),
        }
    };
    let for_ms = duration(&r.for_, "for")?;
    let keep_firing_for_ms = duration(&r.keep_firing_for, "keep_firing_for")?;
    let severity = match &r.severity {
        None => "warning".to_string(),
        Some(s) if SEVERITIES.contains(&s.get_ref().as_str()) => s.get_ref().clone(),
        Some(s) => {
            return Err(fail(
                s.span(),
                "severity",
                format!("`{}` is not one of {}", s.get_ref(), SEVERITIES.join(", ")),
            ))
        }
    };
    for k in r.labels.keys() {
        if RESERVED_LABELS.contains(&k.as_str()) {
            return Err(fail(
                r.name.span(),
                "labels",
                format!(
                    "`{k}` is set by driftd itself; reserved: {}",
                    RESERVED_LABELS.join(", ")
                ),
            ));
        }
    }
    let mut annotations = BTreeMap::new();
    let shorthands = [("summary", &r.summary), ("description", &r.description)];
    for (key, text) in shorthands
        .iter()
        .filter_map(|(k, t)| t.as_ref().map(|t| (*k, t)))
    {
        if r.annotations.contains_key(key) {
            return Err(fail(
                text.span(),
                key,
                format!("set either `{key}` or `annotations.{key}`, not both"),
            ));
        }
        annotations.insert(key.to_string(), text);
    }
    for (key, text) in &r.annotations {
        annotations.insert(key.clone(), text);
    }
    let mut checked = BTreeMap::new();
    for (key, text) in annotations {
        template::check(text.get_ref())
            .and_then(|()| known_labels(text.get_ref(), &r.labels))
            .map_err(|e| {
                let key = if r.annotations.contains_key(&key) {
                    format!("annotations.{key}")
                } else {
                    key.clone()
                };
                fail(text.span(), &key, e)
            })?;
        checked.insert(key, text.get_ref().clone());
    }
    checked.entry("summary".into()).or_insert_with(|| {
        let subject = if is_feature {
            "{{ $metric }} of {{ $labels.feature }}"
        } else {
            "{{ $metric }}"
        };
        format!(
            "{subject} is {{{{ printf \"%.4g\" $value }}}} ({{{{ $labels.window }}}} window; \
             threshold {{{{ printf \"%.4g\" $threshold }}}})"
        )
    });
    let mut actions = BTreeSet::new();
    if let Some(a) = &r.actions {
        for action in a.get_ref() {
            if !ACTIONS.contains(&action.as_str()) {
                return Err(fail(
                    a.span(),
                    "actions",
                    format!("unknown action `{action}`; known: {}", ACTIONS.join(", ")),
                ));
            }
            actions.insert(action.as_str());
        }
    }
    Ok(Rule {
        name,
        file: file.to_path_buf(),
        models,
        features,
        versions,
        deployments,
        segments,
        metric,
        window,
        condition,
        for_ms,
        keep_firing_for_ms,
        min_samples: r.min_samples,
        severity,
        labels: r.labels,
        annotations: checked,
        email: actions.contains("email"),
        retrain: actions.contains("retrain"),
    })
}

/// The globs of a selector (`features`, `deployments`) that the metric needs exactly
/// when `needed`: its absence is blamed on the metric's line, its presence on its own.
fn selector(
    spec: &Option<Spanned<Vec<String>>>,
    needed: bool,
    key: &str,
    (metric, is, is_not): (&Spanned<String>, &str, &str),
    fail: &dyn Fn(std::ops::Range<usize>, &str, String) -> RulesError,
) -> Result<Option<Vec<String>>, RulesError> {
    let m = metric.get_ref();
    match (spec, needed) {
        (None, true) => Err(fail(
            metric.span(),
            key,
            format!("`{m}` is {is}: add e.g. {key} = [\"*\"]"),
        )),
        (Some(l), false) => Err(fail(
            l.span(),
            key,
            format!("`{m}` is {is_not}: remove `{key}`"),
        )),
        (Some(l), true) => Ok(Some(globs(l, key, fail)?)),
        (None, false) => Ok(None),
    }
}

fn globs(
    list: &Spanned<Vec<String>>,
    key: &str,
    fail: &dyn Fn(std::ops::Range<usize>, &str, String) -> RulesError,
) -> Result<Vec<String>, RulesError> {
    let l = list.get_ref();
    if l.iter().all(|g| g.starts_with('!')) || l.iter().any(|g| g.is_empty() || g == "!") {
        return Err(fail(
            list.span(),
            key,
            "list at least one non-empty pattern (`*` matches everything; `!pattern` excludes)"
                .into(),
        ));
    }
    Ok(list.get_ref().clone())
}

/// Every `$labels.<name>` (or `.Labels.<name>`) a template reads is a label the alert
/// will have: Prometheus would print `<no value>` for a misspelt one, found only when
/// the alert fires.
fn known_labels(text: &str, rule_labels: &BTreeMap<String, String>) -> Result<(), String> {
    static READ: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)")
            .expect("a valid regex")
    });
    for name in READ.captures_iter(text).map(|c| c[1].to_string()) {
        if !RESERVED_LABELS.contains(&name.as_str()) && !rule_labels.contains_key(&name) {
            let mut known: Vec<&str> = RESERVED_LABELS.to_vec();
            known.extend(rule_labels.keys().map(String::as_str));
            return Err(format!(
                "`$labels.{name}` is not a label of this rule's alerts; they have: {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// The key of the `key = value` line holding byte `offset`, if it is one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_string())
}

/// The `name` of the `[[rule]]` table that contains byte `offset`, for errors that
/// serde reports before the rule is known.
fn rule_name_around(text: &str, offset: usize) -> Option<String> {
    let head = &text[..offset.min(text.len())];
    let start = head.rfind("[[rule]]")?;
    let table_end = text[start + 8..]
        .find("[[")
        .map(|i| start + 8 + i)
        .unwrap_or(text.len());
    text[start..table_end].lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Rule>, RulesError> {
        parse_rules(Path::new("r.toml"), text, Some(&["5m".into(), "1h".into()]))
    }

    const GOOD: &str = r#"
[[rule]]
name = "FeaturePsi"
features = ["*"]
metric = "psi"
window = "1h"
condition = "> critical"
for = "10m"
keep_firing_for = "5m"
min_samples = 500
severity = "warning"
labels = { team = "risk" }
summary = "PSI of {{ $labels.feature }} on {{ $labels.model }} is {{ $value }} (team {{ $labels.team }})"
annotations = { runbook_url = "https://runbooks.example/{{ $labels.model }}" }
actions = ["email", "retrain"]

[[rule]]
name = "AccuracyDrop"
metric = "accuracy"
window = "1h"
condition = "< reference * 0.95"
"#;

    #[test]
    fn parses_a_valid_file() {
        let rules = parse(GOOD).unwrap();
        assert_eq!(rules.len(), 2);
        let r = &rules[0];
        assert_eq!(r.for_ms, 600_000);
        assert_eq!(r.keep_firing_for_ms, 300_000);
        assert_eq!(r.models, vec!["*"]);
        assert!(r.email && r.retrain);
        assert_eq!(r.condition.bound, Bound::Critical);
        let a = &rules[1];
        assert_eq!(a.features, None);
        assert_eq!(
            a.condition,
            Condition {
                op: Op::Lt,
                bound: Bound::Relative {
                    to: RelativeTo::Reference,
                    scale: 0.95,
                    shift: 0.0
                }
            }
        );
        assert!(!a.email && !a.retrain);
        assert_eq!(a.severity, "warning");
    }

    #[test]
    fn conditions() {
        let c = Condition::parse(">= 0.25").unwrap();
        assert_eq!(c.to_string(), ">= 0.25");
        let s = Sample {
            value: 0.3,
            samples: 1,
            reference: Some(0.9),
            critical: None,
            baseline: Some(0.8),
        };
        assert_eq!(c.threshold(&s), Some(0.25));
        assert!(c.holds(0.25, 0.25));
        let r = Condition::parse("< reference - 0.05").unwrap();
        assert!((r.threshold(&s).unwrap() - 0.85).abs() < 1e-12);
        assert_eq!(Condition::parse("> critical").unwrap().threshold(&s), None);
        let b = Condition::parse("< baseline * 0.97").unwrap();
        assert_eq!(b.to_string(), "< baseline * 0.97");
        assert!((b.threshold(&s).unwrap() - 0.776).abs() < 1e-12);
        let b = Condition::parse("> baseline + 0.1").unwrap();
        assert_eq!(b.to_string(), "> baseline + 0.1");
        assert!((b.threshold(&s).unwrap() - 0.9).abs() < 1e-12);
        let without = Sample {
            baseline: None,
            ..s
        };
        assert_eq!(b.threshold(&without), None, "no baseline: not evaluated");
        // A non-ASCII operator (the typographic minus) is refused, not a panic (found by
        // the rules fuzzer).
        for bad in [
            "0.2",
            "> abc",
            "> reference / 2",
            "=> 1",
            "> inf",
            "< reference − 0.05",
            "< baseline / 2",
            "< baseline * inf",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }

    fn error_of(text: &str) -> RulesError {
        parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_line_rule_and_key() {
        let e = error_of(&GOOD.replace("metric = \"psi\"", "metric = \"psy\""));
        assert_eq!(e.rule.as_deref(), Some("FeaturePsi"));
        assert_eq!(e.key.as_deref(), Some("metric"));
        assert_eq!(e.line, Some(5));
        assert!(
            e.to_string()
                .starts_with("r.toml:5: rule `FeaturePsi`: `metric`: unknown metric `psy`"),
            "{e}"
        );

        let e = error_of(&GOOD.replace(
            "window = \"1h\"\ncondition = \"< ref",
            "window = \"2h\"\ncondition = \"< ref",
        ));
        assert_eq!(e.rule.as_deref(), Some("AccuracyDrop"));
        assert_eq!(e.key.as_deref(), Some("window"));

        let e = error_of(&GOOD.replace("severity = \"warning\"", "severity = \"urgent\""));
        assert_eq!(e.key.as_deref(), Some("severity"));

        let e = error_of(&GOOD.replace("keep_firing_for", "keep_firing"));
        assert_eq!(e.rule.as_deref(), Some("FeaturePsi"));
        assert!(e.message.contains("keep_firing"), "{e}");
        assert_eq!(e.line, Some(9));
    }

    #[test]
    fn annotations_are_checked_templates() {
        let rules = parse(GOOD).unwrap();
        assert_eq!(
            rules[0].annotations.keys().collect::<Vec<_>>(),
            ["runbook_url", "summary"]
        );
        assert!(rules[1].annotations["summary"].contains("$value"));
        let base = "[[rule]]\nname = \"R\"\nfeatures = [\"*\"]\nmetric = \"psi\"\nwindow = \"1h\"\ncondition = \"> 0.2\"\nlabels = { team = \"x\" }\n";
        let err = |extra: &str| parse(&format!("{base}{extra}")).unwrap_err();
        let e = err("summary = \"{{ $value | humanise }}\"\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("summary")));
        assert!(e.message.contains("humanise"), "{e}");
        let e = err("annotations = { description = \"{{ $vaule }}\" }\n");
        assert_eq!(e.key.as_deref(), Some("annotations.description"));
        assert!(e.message.contains("vaule"), "{e}");
        let e = err("annotations = { summary = \"{{ $labels.owner }}\" }\n");
        assert!(e.message.contains("owner"), "{e}");
        let e = err("summary = \"a\"\nannotations = { summary = \"b\" }\n");
        assert!(e.message.contains("not both"), "{e}");
        let ok = format!(
            "{base}{}",
            "summary = \"{{ $labels.team }} {{ $labels.feature }}\"\n"
        );
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn a_deployment_metric_needs_deployments_and_baseline_needs_a_deployment() {
        let base = "[[rule]]\nname = \"D\"\nmetric = \"deployment_verdict\"\nwindow = \"1h\"\ncondition = \"< 0\"\n";
        let e = error_of(base);
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("deployments")));
        let rules = parse(&format!(
            "{base}deployments = [\"canary-*\"]\nsummary = \"{{{{ $labels.deployment }}}}\"\n"
        ))
        .unwrap();
        assert_eq!(rules[0].deployments, Some(vec!["canary-*".to_string()]));
        let e = error_of(&format!(
            "{base}deployments = [\"*\"]\nversions = [\"v2\"]\n"
        ));
        assert_eq!((e.line, e.key.as_deref()), (Some(7), Some("versions")));
        // A model or feature metric with `deployments`: version-relative.
        let relative = "[[rule]]\nname = \"R\"\ndeployments = [\"*\"]\nmetric = \"accuracy\"\nwindow = \"1h\"\ncondition = \"< baseline * 0.97\"\n";
        let rules = parse(relative).unwrap();
        assert_eq!(rules[0].deployments, Some(vec!["*".to_string()]));
        assert_eq!(rules[0].condition.to_string(), "< baseline * 0.97");
        let psi = "[[rule]]\nname = \"P\"\ndeployments = [\"*\"]\nfeatures = [\"*\"]\nmetric = \"psi\"\nwindow = \"1h\"\ncondition = \"> 0.1\"\n";
        assert!(parse(psi).is_ok());
        let e = error_of(&relative.replace("deployments = [\"*\"]\n", ""));
        assert_eq!((e.line, e.key.as_deref()), (Some(5), Some("condition")));
        assert!(e.message.contains("add e.g. deployments"), "{e}");
        let e = error_of(&format!("{relative}versions = [\"v2\"]\n"));
        assert_eq!(e.key.as_deref(), Some("versions"));
        let e = error_of(&format!("{base}deployments = [\"*\"]\n").replace("< 0", "< baseline"));
        assert!(e.message.contains("a verdict has none"), "{e}");
    }

    #[test]
    fn segments_break_down_performance_metrics_only() {
        let base = "[[rule]]\nname = \"S\"\nsegments = [\"*\", \"!__other__\"]\nmetric = \"accuracy\"\nwindow = \"1h\"\ncondition = \"< 0.7\"\n";
        let rules = parse(base).unwrap();
        assert_eq!(
            rules[0].segments,
            Some(vec!["*".to_string(), "!__other__".to_string()])
        );
        let e = error_of(&base.replace("accuracy", "events"));
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("segments")));
        assert!(e.message.contains("not a performance metric"), "{e}");
        let e = error_of(&format!("{base}deployments = [\"*\"]\n"));
        assert_eq!(e.key.as_deref(), Some("segments"));
        let e = error_of(&format!("{base}labels = {{ segment = \"x\" }}\n"));
        assert!(e.message.contains("segment"), "{e}");
    }
}
