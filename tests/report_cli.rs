//! `driftd report` end to end on small files: the edge cases of issue #3 have defined
//! answers (never a panic, never NaN), and `--fail-on-drift` sets the exit code.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(dir: &Path, reference: &str, current: &str, extra: &[&str]) -> Output {
    let (r, c) = (dir.join("ref.csv"), dir.join("cur.csv"));
    std::fs::write(&r, reference).unwrap();
    std::fs::write(&c, current).unwrap();
    Command::new(env!("CARGO_BIN_EXE_driftd"))
        .arg("report")
        .arg("--reference")
        .arg(&r)
        .arg("--current")
        .arg(&c)
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn json_report(reference: &str, current: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), reference, current, &["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("NaN") && !text.contains("Infinity"),
        "{text}"
    );
    serde_json::from_str(&text).unwrap()
}

fn feature<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name} in {report}"))
}

fn csv(header: &str, rows: impl Iterator<Item = String>) -> String {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(&r);
        s.push('\n');
    }
    s
}

#[test]
fn edge_cases_have_defined_answers() {
    let reference = csv(
        "constant,empty,only_ref,x,plan,big",
        (0..500).map(|i| {
            format!(
                "7,,{i},{},{},{}",
                i % 50,
                ["a", "b"][i % 2],
                (i as f64) * 1e300
            )
        }),
    );
    let current = csv(
        "constant,empty,x,plan,big,only_cur",
        (0..400).map(|i| {
            let x = match i % 40 {
                0 => "inf".to_string(),
                1 => "-inf".to_string(),
                2 => "oops".to_string(),
                3 => String::new(),
                _ => (i % 60).to_string(),
            };
            let plan = if i % 10 == 0 {
                "zzz"
            } else {
                ["a", "b"][i % 2]
            };
            format!("{},,{x},{plan},{},q{i}", 7 + (i % 2), (i as f64) * -1e300)
        }),
    );
    let r = json_report(&reference, &current);
    assert_eq!(r["reference"]["rows"], 500);
    assert_eq!(r["current"]["rows"], 400);

    let constant = feature(&r, "constant");
    assert_eq!(constant["status"], "ok");
    assert_eq!(constant["psi_edges"], serde_json::json!([7.0]));
    // One PSI edge at the constant: 7 and 8 share the upper PSI bin, so PSI is 0 by
    // contract; KS (a fine bin per reference value) and out-of-range see the change.
    assert_eq!(constant["psi"], 0.0);
    assert_eq!(constant["ks_statistic"], 0.5);
    assert!(
        constant["wasserstein_normed"].is_null(),
        "reference spread is 0"
    );
    assert_eq!(constant["out_of_range_rate"], 0.5);

    let empty = feature(&r, "empty");
    assert_eq!(empty["status"], "no_reference_values");
    assert!(empty["psi"].is_null() && empty["ks_statistic"].is_null());
    assert_eq!(empty["missing_rate"], 1.0);

    let only_ref = feature(&r, "only_ref");
    assert_eq!(only_ref["status"], "only_in_reference");
    assert_eq!(only_ref["missing_rate"], 1.0);
    assert!(only_ref["psi"].is_null());

    let only_cur = feature(&r, "only_cur");
    assert_eq!(only_cur["status"], "only_in_current");
    assert_eq!(only_cur["kind"], "categorical");

    let x = feature(&r, "x");
    assert_eq!(x["status"], "ok");
    // 10 missing cells of 400 rows; 10 "oops" are type mismatches, not in `count`.
    assert_eq!(x["missing_rate"], 0.025);
    assert_eq!(x["type_mismatch_rate"], 0.025);
    assert_eq!(x["count"], 380);
    // ±inf (20) and 50..59 (60 values) are outside the reference's [0, 49].
    let oor = x["out_of_range_rate"].as_f64().unwrap();
    assert!((oor - 80.0 / 380.0).abs() < 1e-12, "{oor}");
    let d = x["ks_statistic"].as_f64().unwrap();
    assert!(d > 0.0 && d <= 1.0);

    let plan = feature(&r, "plan");
    assert_eq!(plan["kind"], "categorical");
    assert_eq!(plan["categories"], serde_json::json!(["a", "b"]));
    assert!((plan["unseen_rate"].as_f64().unwrap() - 0.1).abs() < 1e-12);
    assert!(plan["chi2_pvalue"].as_f64().unwrap() < 1e-6);

    let big = feature(&r, "big");
    assert_eq!(big["status"], "ok");
    // Current is below the reference except for the shared 0: exact D = 1 − 1/500.
    assert_eq!(big["ks_statistic"], 0.998);
    assert!(big["psi"].as_f64().unwrap().is_finite());
}

#[test]
fn empty_current_file() {
    let reference = csv("x,plan", (0..100).map(|i| format!("{i},a")));
    let r = json_report(&reference, "x,plan\n");
    assert_eq!(r["current"]["rows"], 0);
    for name in ["x", "plan"] {
        let f = feature(&r, name);
        assert_eq!(f["status"], "no_current_values");
        assert!(f["psi"].is_null() && f["js_distance"].is_null());
        assert_eq!(f["count"], 0);
        assert_eq!(f["missing_rate"], 0.0);
    }
}

#[test]
fn ragged_rows_are_an_error_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "a,b\n1,2\n3,4\n", "a,b\n1,2\n3\n", &[]);
    assert_eq!(out.status.code(), Some(2), "an error is 2; drift is 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cur.csv:3:"), "{err}");
}

#[test]
fn fail_on_drift_sets_the_exit_code_and_config_sets_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let reference = csv("x", (0..1000).map(|i| (i % 100).to_string()));
    let shifted = csv("x", (0..1000).map(|i| (i % 100 + 30).to_string()));
    let same = csv("x", (0..1000).map(|i| ((i * 7) % 100).to_string()));

    let out = run(dir.path(), &reference, &shifted, &["--fail-on-drift"]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("DRIFT") && table.contains("1 of 1 features drifted"),
        "{table}"
    );

    let out = run(dir.path(), &reference, &same, &["--fail-on-drift"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A broken run is told apart from drift: 2, with or without --fail-on-drift.
    for flags in [&["--fail-on-drift"][..], &[]] {
        let out = run(dir.path(), &reference, "x\n1\n2,3\n", flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
    }

    // A per-feature threshold above the PSI turns the verdict off.
    std::fs::write(
        dir.path().join("driftd.toml"),
        "[report.thresholds]\nx = 50.0\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &reference,
        &shifted,
        &["--fail-on-drift", "--config", "driftd.toml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn jsonl_inputs_in_the_record_format() {
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize, shift: usize| {
        format!(
            "{{\"model\":\"churn\",\"features\":{{\"age\":{},\"plan\":\"{}\"}},\"prediction\":0.5}}\n",
            20 + (i + shift) % 40,
            ["basic", "gold"][i % 2]
        )
    };
    let r: String = (0..300).map(|i| line(i, 0)).collect();
    let c: String = (0..300).map(|i| line(i, 5)).collect();
    let (rp, cp) = (dir.path().join("r.jsonl"), dir.path().join("c.jsonl"));
    std::fs::write(&rp, r).unwrap();
    std::fs::write(&cp, c).unwrap();
    let v = common::driftd_json([
        "report".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--reference".as_ref(),
        rp.as_os_str(),
        "--current".as_ref(),
        cp.as_os_str(),
    ]);
    assert_eq!(feature(&v, "age")["kind"], "numeric");
    assert_eq!(feature(&v, "plan")["kind"], "categorical");
    assert_eq!(feature(&v, "plan")["psi"], 0.0);
}

#[test]
fn the_table_sizes_the_feature_column_from_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let long = "customer_lifetime_value_in_euros_last_90_days";
    let data = csv(
        &format!("{long},x"),
        (0..200).map(|i| format!("{},{}", i % 50, i % 7)),
    );
    let out = run(dir.path(), &data, &data, &[]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{table}"))
            .to_string()
    };
    // The whole name, and the next column starts where the header's does.
    let header = line("feature");
    let kind_at = header.find("kind").unwrap();
    assert_eq!(kind_at, long.len() + 1, "{table}");
    for name in [long, "x "] {
        let l = line(name);
        assert_eq!(
            l[kind_at..].split_whitespace().next(),
            Some("numeric"),
            "{table}"
        );
    }
}
