//! `driftd rules check` and `driftd rules test` through the real binary: each broken
//! rule file in tests/rules_broken/ is rejected with a message naming its file, line,
//! rule and key; the shipped rules/ are accepted and their unit tests pass; a rule
//! test whose expectation is wrong fails with exit code 1.

mod common;

use std::process::Command;

use common::driftd_bin;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn check(path: &str) -> (bool, String) {
    let out = Command::new(driftd_bin())
        .args(["rules", "check", path])
        .current_dir(ROOT)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn broken_rule_files_are_rejected_precisely() {
    // (file, the exact location prefix, something the message must say)
    let cases = [
        (
            "unknown_metric",
            ":4: rule `A`: `metric`:",
            "unknown metric `psy`",
        ),
        ("unknown_key", ":6: rule `B`: `fro`:", "unknown field `fro`"),
        (
            "bad_condition",
            ":5: rule `C`: `condition`:",
            "must start with >",
        ),
        (
            "feature_metric_without_features",
            ":3: rule `D`: `features`:",
            "is a feature metric",
        ),
        (
            "model_metric_with_features",
            ":3: rule `E`: `features`:",
            "is a model metric",
        ),
        (
            "unknown_window",
            ":4: rule `F`: `window`:",
            "not one of the configured [windows] windows: 5m, 1h, 24h",
        ),
        ("bad_duration", ":6: rule `G`: `for`:", "unknown unit"),
        (
            "bad_severity",
            ":6: rule `H`: `severity`:",
            "`urgent` is not one of",
        ),
        (
            "bad_action",
            ":6: rule `I`: `actions`:",
            "unknown action `pager`",
        ),
        (
            "bad_template",
            ":6: rule `J`: `summary`:",
            "`$labels.modle` is not a label of this rule's alerts",
        ),
        (
            "bad_function",
            ":7: rule `J2`: `annotations.description`:",
            "function humanise not defined",
        ),
        (
            "bad_variable",
            ":8: rule `J3`: `annotations.runbook_url`:",
            "undefined variable $lables",
        ),
        (
            "critical_not_psi",
            ":6: rule `K`: `condition`:",
            "`ks_statistic` has none",
        ),
        (
            "reserved_label",
            ":2: rule `L`: `labels`:",
            "`model` is set by driftd itself",
        ),
        ("wrong_type", ":6: rule `M`: `min_samples`:", "expected u64"),
        ("syntax", ":3: rule `N`", "string"),
        ("duplicate_name", ": rule `O`: `name`:", "already used"),
    ];
    let dir = std::path::Path::new(ROOT).join("tests/rules_broken");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        cases.len(),
        "every broken file has a case"
    );
    for (name, location, says) in cases {
        let file = format!("tests/rules_broken/{name}.toml");
        let (ok, out) = check(&file);
        assert!(!ok, "{file} was accepted");
        assert!(
            out.contains(&format!("{file}{location}")),
            "{file}: expected `{file}{location}` in: {out}"
        );
        assert!(out.contains(says), "{file}: expected `{says}` in: {out}");
    }
}

#[test]
fn shipped_rules_are_valid_and_their_tests_pass() {
    let (ok, out) = check("rules");
    assert!(ok, "{out}");
    for f in [
        "deployments.toml",
        "drift.toml",
        "performance.toml",
        "quality.toml",
    ] {
        assert!(out.contains(&format!("rules/{f}: ")), "{out}");
    }
    let out = Command::new(driftd_bin())
        .args(["rules", "test", "rules/tests/drift_test.toml"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok")).count(),
        6,
        "{text}"
    );
    // The optional rules (not loaded with the directory) and their tests.
    let (ok, out) = check("rules/optional");
    assert!(
        ok && out.contains("rules/optional/fairness.toml: 1 rule(s) ok"),
        "{out}"
    );
    let out = Command::new(driftd_bin())
        .args(["rules", "test", "rules/optional/tests/fairness_test.toml"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.starts_with("ok"), "{text}");
}

#[test]
fn a_wrong_expectation_fails_the_rule_test() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(format!("{ROOT}/rules/tests/drift_test.toml")).unwrap();
    // The drift alert is pending, not firing, at 2m.
    let wrong = shipped
        .replacen("at = \"4m\"", "at = \"3m\"", 1)
        .replace(
            "rule_files = [\"../",
            &format!("rule_files = [\"{ROOT}/rules/"),
        )
        .replace(", \"../", &format!(", \"{ROOT}/rules/"));
    assert_ne!(wrong, shipped);
    let path = dir.path().join("wrong_test.toml");
    std::fs::write(&path, wrong).unwrap();
    let out = Command::new(driftd_bin())
        .args(["rules", "test"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL"), "{text}");
    assert!(
        text.contains("at 3m: expected a firing `FeatureDriftHigh` alert"),
        "{text}"
    );
}
