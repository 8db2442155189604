//! Rule unit tests (`driftd rules test FILE`), modelled on `promtool test rules`:
//! given input series of metric values, one per evaluation interval, expect these
//! alerts to be firing at these times.
//!
//! ```toml
//! rule_files = ["../drift.toml"]      # relative to the test file
//! evaluation_interval = "1m"
//!
//! [[test]]
//! name = "sustained PSI fires after `for`"
//! [[test.series]]
//! model = "churn"
//! window = "1h"
//! feature = "age"
//! metric = "psi"
//! values = "0.01 0.5x15"            # 0.01, then 0.5 sixteen times
//! [[test.alerts]]
//! at = "12m"
//! alertname = "FeaturePsiHigh"
//! firing = [{ model = "churn", feature = "age" }]
//! ```
//!
//! Values use promtool's expanding notation: `a+bxn` is a, a+b, …, a+n·b (n+1
//! values), `axn` is a repeated n+1 times, `_` is a missing value and `_xn` n of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::alert::{Alert, AlertPhase, AlertTable};
use super::file::{load_rules, RulesError};
use super::sample::{Sample, SampleSet, SeriesKey};
use crate::base::time::parse_duration;

#[derive(Debug, thiserror::Error)]
pub(crate) enum UnitTestError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Rules(#[from] RulesError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<PathBuf>,
    #[serde(default = "default_interval")]
    evaluation_interval: String,
    #[serde(rename = "test")]
    tests: Vec<TestCase>,
}

fn default_interval() -> String {
    "1m".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    series: Vec<SeriesSpec>,
    #[serde(default)]
    alerts: Vec<AlertCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesSpec {
    model: String,
    #[serde(default)]
    version: Option<String>,
    window: String,
    #[serde(default)]
    feature: Option<String>,
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    metric: String,
    values: String,
    #[serde(default = "default_samples")]
    samples: u64,
    #[serde(default)]
    reference: Option<f64>,
    #[serde(default)]
    critical: Option<f64>,
    /// The baseline arm's value, for version-relative rules (`< baseline * 0.97`).
    #[serde(default)]
    baseline: Option<f64>,
}

fn default_samples() -> u64 {
    1_000_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertCheck {
    at: String,
    alertname: String,
    /// Each entry: labels that exactly one firing alert must have (and, in the long
    /// form, the rendered annotations it must have). The number of firing alerts of
    /// `alertname` must equal the number of entries.
    #[serde(default)]
    firing: Vec<ExpectedAlert>,
    /// The same, for pending alerts (unchecked when absent).
    #[serde(default)]
    pending: Option<Vec<ExpectedAlert>>,
}

/// `{ feature = "age" }`, or promtool's `{ exp_labels = {…}, exp_annotations = {…} }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ExpectedAlert {
    Detailed(DetailedAlert),
    Labels(BTreeMap<String, String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    /// Each annotation listed must render to exactly this text.
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

impl ExpectedAlert {
    fn parts(&self) -> (&BTreeMap<String, String>, Option<&BTreeMap<String, String>>) {
        match self {
            ExpectedAlert::Detailed(d) => (&d.exp_labels, Some(&d.exp_annotations)),
            ExpectedAlert::Labels(l) => (l, None),
        }
    }

    fn matches(&self, a: &Alert) -> bool {
        let (labels, annotations) = self.parts();
        labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
            && annotations
                .into_iter()
                .flatten()
                .all(|(k, v)| a.annotations.get(k) == Some(v))
    }
}

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseResult {
    pub name: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

/// Expands promtool's series notation.
pub(crate) fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for token in s.split_whitespace() {
        let (base, times) =
            match token.split_once('x') {
                Some((b, n)) => (
                    b,
                    Some(n.parse::<usize>().map_err(|_| {
                        format!("`{token}`: the count after `x` must be an integer")
                    })?),
                ),
                None => (token, None),
            };
        if base == "_" {
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        // `a+b` / `a-b` (a sign at position 0 belongs to a).
        let split = base
            .char_indices()
            .skip(1)
            .find(|&(i, c)| (c == '+' || c == '-') && !base[..i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let (start, step) = match split {
            Some(i) => (&base[..i], Some(&base[i..])),
            None => (base, None),
        };
        let num = |t: &str| {
            t.trim_start_matches('+')
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("`{token}`: `{t}` is not a number"))
        };
        let a = num(start)?;
        match (step, times) {
            (None, None) => out.push(Some(a)),
            (None, Some(n)) => out.extend(std::iter::repeat_n(Some(a), n + 1)),
            (Some(b), Some(n)) => {
                let b = num(b)?;
                out.extend((0..=n).map(|i| Some(a + b * i as f64)));
            }
            (Some(_), None) => {
                return Err(format!("`{token}`: `a+b` needs a count, e.g. `{token}x5`"))
            }
        }
    }
    Ok(out)
}

/// Runs every case of a test file.
pub(crate) fn run_file(path: &Path) -> Result<Vec<CaseResult>, UnitTestError> {
    let file_err = |message: String| UnitTestError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let spec: TestFile = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_paths: Vec<PathBuf> = spec.rule_files.iter().map(|p| base.join(p)).collect();
    let rules = load_rules(&rule_paths, None)?;
    let default_step = parse_duration(&spec.evaluation_interval)
        .map_err(|e| file_err(format!("evaluation_interval: {e}")))?;
    let mut results = Vec::new();
    for case in &spec.tests {
        let step = match &case.interval {
            Some(i) => parse_duration(i)
                .map_err(|e| file_err(format!("test `{}`: interval: {e}", case.name)))?,
            None => default_step,
        }
        .as_millis() as i64;
        if step == 0 {
            return Err(file_err(format!(
                "test `{}`: the interval must be longer than 0",
                case.name
            )));
        }
        let mut series = Vec::new();
        for s in &case.series {
            let values = expand_values(&s.values)
                .map_err(|e| file_err(format!("test `{}`: values: {e}", case.name)))?;
            let key = SeriesKey {
                model: s.model.clone(),
                version: s.version.clone(),
                window: s.window.clone(),
                feature: s.feature.clone(),
                deployment: s.deployment.clone(),
                segment: s.segment.clone(),
                metric: s.metric.clone(),
            };
            series.push((key, s, values));
        }
        let mut checks = Vec::new();
        for c in &case.alerts {
            let at = parse_duration(&c.at)
                .map_err(|e| file_err(format!("test `{}`: at: {e}", case.name)))?
                .as_millis() as i64;
            if at % step != 0 {
                return Err(file_err(format!(
                    "test `{}`: at = \"{}\" is not a multiple of the interval",
                    case.name, c.at
                )));
            }
            checks.push((at, c));
        }
        checks.sort_by_key(|(at, _)| *at);
        let end = checks.last().map(|(at, _)| *at).unwrap_or(0);
        let mut table = AlertTable::default();
        let mut failures = Vec::new();
        let mut next_check = 0;
        let mut t = 0;
        while t <= end {
            let i = (t / step) as usize;
            let mut samples = SampleSet::default();
            for (key, s, values) in &series {
                if let Some(Some(v)) = values.get(i) {
                    samples.insert(
                        key.clone(),
                        Sample {
                            value: *v,
                            samples: s.samples,
                            reference: s.reference,
                            critical: s.critical,
                            baseline: s.baseline,
                        },
                    );
                }
            }
            // Resolved alerts are kept long enough for any test's checks.
            table.evaluate(&rules, &samples, t, i64::MAX / 4);
            while next_check < checks.len() && checks[next_check].0 == t {
                let (_, c) = checks[next_check];
                failures.extend(check(&table, c, AlertPhase::Firing, &c.firing));
                if let Some(p) = &c.pending {
                    failures.extend(check(&table, c, AlertPhase::Pending, p));
                }
                next_check += 1;
            }
            t += step;
        }
        results.push(CaseResult {
            name: case.name.clone(),
            failures,
        });
    }
    Ok(results)
}

fn check(
    table: &AlertTable,
    c: &AlertCheck,
    phase: AlertPhase,
    expected: &[ExpectedAlert],
) -> Vec<String> {
    let actual: Vec<&Alert> = table
        .alerts()
        .filter(|a| a.rule == c.alertname && a.phase == phase)
        .collect();
    let shown = |a: &&Alert| -> String {
        if expected.iter().any(|e| e.parts().1.is_some()) {
            format!("{:?} {:?}", a.labels, a.annotations)
        } else {
            format!("{:?}", a.labels)
        }
    };
    let mut unmatched: Vec<&Alert> = actual.clone();
    let mut failures = Vec::new();
    for want in expected {
        match unmatched.iter().position(|got| want.matches(got)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => {
                let (labels, annotations) = want.parts();
                failures.push(format!(
                    "at {}: expected a {} `{}` alert with {:?}{}; {} are: [{}]",
                    c.at,
                    phase.as_str(),
                    c.alertname,
                    labels,
                    annotations.map_or(String::new(), |a| format!(" and annotations {a:?}")),
                    phase.as_str(),
                    actual.iter().map(shown).collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
    for extra in unmatched {
        failures.push(format!(
            "at {}: unexpected {} `{}` alert {}",
            c.at,
            phase.as_str(),
            c.alertname,
            shown(&extra)
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation() {
        assert_eq!(
            expand_values("1 2+1x2 _ 0.5x1 _x2 -1-1x1 1e-3").unwrap(),
            vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                Some(4.0),
                None,
                Some(0.5),
                Some(0.5),
                None,
                None,
                Some(-1.0),
                Some(-2.0),
                Some(1e-3)
            ]
        );
        assert!(expand_values("1+2").is_err());
        assert!(expand_values("abc").is_err());
        assert!(expand_values("1xq").is_err());
    }

    #[test]
    fn a_test_file_passes_and_a_wrong_expectation_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r.toml"),
            "[[rule]]\nname = \"Psi\"\nfeatures = [\"*\"]\nmetric = \"psi\"\nwindow = \"1h\"\ncondition = \"> 0.2\"\nfor = \"2m\"\n",
        )
        .unwrap();
        let test = |at_firing: &str| {
            format!(
                "rule_files = [\"r.toml\"]\n[[test]]\nname = \"t\"\n[[test.series]]\nmodel = \"m\"\nwindow = \"1h\"\nfeature = \"age\"\nmetric = \"psi\"\nvalues = \"0.1 0.5x5\"\n[[test.alerts]]\nat = \"{at_firing}\"\nalertname = \"Psi\"\nfiring = [{{ feature = \"age\" }}]\n[[test.alerts]]\nat = \"2m\"\nalertname = \"Psi\"\nfiring = []\npending = [{{ model = \"m\" }}]\n"
            )
        };
        let path = dir.path().join("t.toml");
        std::fs::write(&path, test("3m")).unwrap();
        let r = run_file(&path).unwrap();
        assert_eq!(r[0].failures, Vec::<String>::new());
        std::fs::write(&path, test("2m")).unwrap();
        let r = run_file(&path).unwrap();
        assert!(!r[0].failures.is_empty(), "pending at 2m, not firing");
    }

    #[test]
    fn expected_annotations_are_compared_rendered() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r.toml"),
            "[[rule]]\nname = \"Psi\"\nfeatures = [\"*\"]\nmetric = \"psi\"\nwindow = \"1h\"\ncondition = \"> 0.2\"\nsummary = \"{{ $labels.feature }} at {{ $value | humanizePercentage }}\"\n",
        )
        .unwrap();
        let test = |summary: &str| {
            format!(
                "rule_files = [\"r.toml\"]\n[[test]]\nname = \"t\"\n[[test.series]]\nmodel = \"m\"\nwindow = \"1h\"\nfeature = \"age\"\nmetric = \"psi\"\nvalues = \"0.5\"\n[[test.alerts]]\nat = \"0m\"\nalertname = \"Psi\"\nfiring = [{{ exp_labels = {{ feature = \"age\" }}, exp_annotations = {{ summary = \"{summary}\" }} }}]\n"
            )
        };
        let path = dir.path().join("t.toml");
        std::fs::write(&path, test("age at 50%")).unwrap();
        assert_eq!(run_file(&path).unwrap()[0].failures, Vec::<String>::new());
        std::fs::write(&path, test("age at 0.5")).unwrap();
        let f = &run_file(&path).unwrap()[0].failures;
        assert!(f.len() == 2 && f[0].contains("age at 50%"), "{f:?}");
    }
}
