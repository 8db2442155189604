//! `for` and `keep_firing_for` as Prometheus counts them, differentially: 40 random
//! series, each with its own rule (random `for` and `keep_firing_for`), go through
//! `driftd rules test`, whose answer (is the alert firing at each minute?) becomes the
//! expectation of a `promtool test rules` file for the same rules and series, which
//! Prometheus's own promtool (Debian's, `DRIFTD_PROMTOOL`) must pass.

mod common;

use std::fmt::Write as _;
use std::process::Command;

use common::*;
use driftd::base::rng::SplitMix;

const CASES: usize = 40;
const STEPS: usize = 20;

struct Case {
    for_m: u64,
    keep_m: u64,
    values: Vec<f64>,
}

fn cases() -> Vec<Case> {
    let mut rng = SplitMix::new(17);
    (0..CASES)
        .map(|_| {
            let for_m = rng.next_u64() % 4;
            let keep_m = [0, 1, 2, 3, 5][(rng.next_u64() % 5) as usize];
            // Runs above and below the threshold (0.5), flipping with probability 0.3.
            let mut high = rng.uniform() < 0.5;
            let values = (0..STEPS)
                .map(|_| {
                    if rng.uniform() < 0.3 {
                        high = !high;
                    }
                    if high {
                        0.6 + 0.3 * rng.uniform()
                    } else {
                        0.1 + 0.3 * rng.uniform()
                    }
                })
                .collect();
            Case {
                for_m,
                keep_m,
                values,
            }
        })
        .collect()
}

/// Writes `prom_rules.yml` and `prom_tests.yml` into `dir` and runs `promtool test
/// rules`: (passed, its report).
fn promtool_test(
    promtool: &str,
    dir: &std::path::Path,
    rules: &str,
    tests: &str,
) -> (bool, String) {
    std::fs::write(dir.join("prom_rules.yml"), rules).unwrap();
    let test_file = dir.join("prom_tests.yml");
    std::fs::write(&test_file, tests).unwrap();
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), report)
}

#[test]
fn for_and_keep_firing_for_match_promtool_on_random_series() {
    let promtool = std::env::var("DRIFTD_PROMTOOL")
        .expect("DRIFTD_PROMTOOL is not set: run scripts/test.sh (Debian's prometheus package)");
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    assert!(cases.iter().filter(|c| c.keep_m > 0).count() >= 20);

    // driftd: one rule per case, and one test per (case, minute) expecting it firing.
    let (mut rules, mut tests) = (String::new(), String::new());
    tests.push_str("rule_files = [\"rules.toml\"]\nevaluation_interval = \"1m\"\n");
    for (i, c) in cases.iter().enumerate() {
        writeln!(
            rules,
            "[[rule]]\nname = \"R{i}\"\nfeatures = [\"f{i}\"]\nmetric = \"psi\"\nwindow = \"1h\"\n\
             condition = \"> 0.5\"\nfor = \"{}m\"\nkeep_firing_for = \"{}m\"\n",
            c.for_m, c.keep_m
        )
        .unwrap();
        let values: Vec<String> = c.values.iter().map(|v| format!("{v:.3}")).collect();
        for t in 0..STEPS {
            writeln!(
                tests,
                "[[test]]\nname = \"case {i} at {t}m\"\n[[test.series]]\nmodel = \"m\"\n\
                 window = \"1h\"\nfeature = \"f{i}\"\nmetric = \"psi\"\nvalues = \"{}\"\n\
                 [[test.alerts]]\nat = \"{t}m\"\nalertname = \"R{i}\"\nfiring = [{{ feature = \"f{i}\" }}]\n",
                values.join(" ")
            )
            .unwrap();
        }
    }
    std::fs::write(dir.path().join("rules.toml"), rules).unwrap();
    let test_file = dir.path().join("tests.toml");
    std::fs::write(&test_file, tests).unwrap();
    let out = run_driftd(["rules", "test", test_file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let firing = |i: usize, t: usize| {
        let name = format!(": case {i} at {t}m");
        let line = text
            .lines()
            .find(|l| l.ends_with(&name))
            .unwrap_or_else(|| panic!("no result for{name}:\n{text}"));
        line.starts_with("ok")
    };

    // promtool: the same rules and series, expecting what driftd answered.
    let mut prom_rules = String::from("groups:\n  - name: differential\n    rules:\n");
    let mut prom_tests =
        String::from("rule_files: [prom_rules.yml]\nevaluation_interval: 1m\ntests:\n");
    let mut fired = 0;
    for (i, c) in cases.iter().enumerate() {
        writeln!(
            prom_rules,
            "      - alert: R{i}\n        expr: psi{{feature=\"f{i}\"}} > 0.5\n        for: {}m\n        keep_firing_for: {}m",
            c.for_m, c.keep_m
        )
        .unwrap();
        let values: Vec<String> = c.values.iter().map(|v| format!("{v:.3}")).collect();
        writeln!(
            prom_tests,
            "  - name: case {i}\n    interval: 1m\n    input_series:\n      - series: 'psi{{feature=\"f{i}\"}}'\n        values: '{}'\n    alert_rule_test:",
            values.join(" ")
        )
        .unwrap();
        for t in 0..STEPS {
            let exp = if firing(i, t) {
                fired += 1;
                format!("\n          - exp_labels: {{feature: f{i}}}")
            } else {
                " []".to_string()
            };
            writeln!(
                prom_tests,
                "      - eval_time: {t}m\n        alertname: R{i}\n        exp_alerts:{exp}"
            )
            .unwrap();
        }
    }
    // Both answers occur: the comparison is not vacuous.
    assert!(fired > 100 && fired < CASES * STEPS - 100, "{fired} firing");
    let (passed, report) = promtool_test(&promtool, dir.path(), &prom_rules, &prom_tests);
    let disagree = report.matches("FAILED").count();
    assert!(
        passed,
        "promtool disagrees with driftd ({disagree} FAILED in its report):\n{}",
        &report[..report.len().min(6000)]
    );
}

/// Annotation templates, differentially: Prometheus's template examples (adapted to
/// driftd's labels) and its formatting functions, on values of every magnitude, are
/// rendered by driftd's library; those texts are the `exp_annotations` of both a
/// `driftd rules test` file (the daemon's path renders what the library renders) and
/// a `promtool test rules` file (Prometheus renders the same), which must both pass.
#[test]
fn annotation_templates_render_as_promtool_renders() {
    use driftd::rules::template::{render, TemplateData};
    let promtool = std::env::var("DRIFTD_PROMTOOL")
        .expect("DRIFTD_PROMTOOL is not set: run scripts/test.sh (Debian's prometheus package)");
    let templates = [
        // docs/configuration/alerting_rules.md
        "{{ $labels.feature }} of {{ $labels.model }} drifted (current value: {{ $value }})",
        "Model {{ $labels.model }} drifted",
        "{{ $labels.feature }} of model {{ $labels.model }} has drifted for more than 5 minutes.",
        // docs/configuration/template_examples.md and template_reference.md
        "{{ humanize $value }}",
        "{{ $value | humanize }}",
        "{{ $value | humanize1024 }}",
        "{{ $value | humanizePercentage }}",
        "{{ $value | humanizeDuration }}",
        "{{ .Labels.window }}: {{ .Value }}",
        "{{ printf \"%.2f\" $value }} {{ printf \"%.3g\" $value }} {{ printf \"%e\" $value }}",
        "[{{ printf \"%8.1f\" $value }}] [{{ printf \"%-8.2g|\" $value }}] {{ printf \"%v\" $value }}",
        "{{ if gt $value 1.0 }}above one{{ else }}at most one{{ end }}",
        "{{ $labels.model | toUpper }} {{ $labels.feature | toLower }} {{ title $labels.window }}",
        "{{ if match \"^f1\" $labels.feature }}early{{ end }}{{ reReplaceAll \"f(.)\" \"feature-$1\" $labels.feature }}",
        "{{ with $labels.model }}model {{ . }}{{ end }} {{ len $labels.feature }}",
        "{{ $value | printf \"%.4g\" }} and {{ 100 | humanize }}",
    ];
    let mut rng = SplitMix::new(5);
    let mut values: Vec<f64> = vec![
        0.0, 1.0, 0.5, 1e-5, 1e6, 123456.0, 2.5, 60.0, 3725.0, 90061.5,
    ];
    while values.len() < 30 {
        let magnitude = 10f64.powf(-9.0 + 19.0 * rng.uniform());
        let sign = if rng.uniform() < 0.2 { -1.0 } else { 1.0 };
        values.push(sign * magnitude * (1.0 + rng.uniform()));
    }
    let labels_of = |j: usize| -> std::collections::BTreeMap<String, String> {
        [("model", "churn"), ("window", "1h")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("feature".to_string(), format!("f{j}"))])
            .collect()
    };
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let series: Vec<String> = values.iter().map(|v| format!("{v:e}")).collect();
    let (mut rules, mut tests) = (String::new(), String::new());
    let mut prom_rules = String::from("groups:\n  - name: templates\n    rules:\n");
    let mut prom_tests = String::from(
        "rule_files: [prom_rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
    );
    for (j, v) in series.iter().enumerate() {
        writeln!(prom_tests, "      - series: 'psi{{model=\"churn\",window=\"1h\",feature=\"f{j}\"}}'\n        values: '{v}'").unwrap();
    }
    prom_tests.push_str("    alert_rule_test:\n");
    tests.push_str("rule_files = [\"rules.toml\"]\n[[test]]\nname = \"templates\"\n");
    for (j, v) in series.iter().enumerate() {
        writeln!(
            tests,
            "[[test.series]]\nmodel = \"churn\"\nwindow = \"1h\"\nfeature = \"f{j}\"\nmetric = \"psi\"\nvalues = \"{v}\""
        )
        .unwrap();
    }
    let mut expectations = String::new();
    let mut distinct = std::collections::BTreeSet::new();
    for (i, t) in templates.iter().enumerate() {
        writeln!(
            rules,
            "[[rule]]\nname = \"T{i}\"\nfeatures = [\"*\"]\nmetric = \"psi\"\nwindow = \"1h\"\ncondition = \"> -1e300\"\nsummary = {}\n",
            q(t)
        )
        .unwrap();
        writeln!(
            prom_rules,
            "      - alert: T{i}\n        expr: psi\n        annotations:\n          summary: {}",
            q(t)
        )
        .unwrap();
        writeln!(
            prom_tests,
            "      - eval_time: 0m\n        alertname: T{i}\n        exp_alerts:"
        )
        .unwrap();
        let mut firing = Vec::new();
        for (j, v) in values.iter().enumerate() {
            let labels = labels_of(j);
            let text = render(
                t,
                &TemplateData {
                    labels: &labels,
                    value: *v,
                    threshold: -1e300,
                    reference: None,
                    baseline: None,
                    samples: 1_000_000,
                    metric: "psi",
                    rule: "T",
                    external_url: "",
                },
            );
            assert!(!text.contains("error expanding"), "{t}: {text}");
            distinct.insert(text.clone());
            writeln!(
                prom_tests,
                "          - exp_labels: {{model: churn, window: 1h, feature: f{j}}}\n            exp_annotations: {{summary: {}}}",
                q(&text)
            )
            .unwrap();
            firing.push(format!(
                "{{ exp_labels = {{ feature = \"f{j}\" }}, exp_annotations = {{ summary = {} }} }}",
                q(&text)
            ));
        }
        writeln!(
            expectations,
            "[[test.alerts]]\nat = \"0m\"\nalertname = \"T{i}\"\nfiring = [{}]",
            firing.join(", ")
        )
        .unwrap();
    }
    tests.push_str(&expectations);
    assert!(distinct.len() > 300, "{} distinct texts", distinct.len());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), &rules).unwrap();
    let test_file = dir.path().join("tests.toml");
    std::fs::write(&test_file, &tests).unwrap();
    let out = run_driftd(["rules", "test", test_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "driftd rules test disagrees with the library:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (passed, report) = promtool_test(&promtool, dir.path(), &prom_rules, &prom_tests);
    assert!(
        passed,
        "promtool renders differently:\n{}",
        &report[..report.len().min(8000)]
    );
}
