//! A binary decision model end to end on the real broker: its predictions and late
//! labels (half before, half after their predictions), with a group as the
//! `[labels] segment_key` and a value per outcome (`[models.credit.value]`).
//!
//! - Fairness against fairlearn as the oracle: the model selects one group less
//!   often; driftd's demographic parity difference and ratio, equal opportunity and
//!   equalized odds differences and every group's rates equal fairlearn's on the same
//!   rows to 1e-9, are in the gauges, and a four-fifths rule fires.
//! - Business outcomes: conversion rate, predicted positive rate and business value
//!   equal the counts of the generated rows, and a rule on `conversion_rate <
//!   reference * 0.9` fires.
//! - Performance per segment: in the gauges, and a rule with `segments = ["*"]` fires
//!   for the one segment less accurate than `reference * 0.95`.

mod common;

use std::time::Duration;

use common::*;
use driftd::base::rng::SplitMix;
use serde_json::{json, Value};

fn fairlearn(rows: &Value, dir: &std::path::Path) -> Value {
    python_oracle("fairlearn_oracle.py", &[], rows, dir)
}

#[test]
fn fairness_equals_fairlearn_and_business_value_the_counts() {
    const N: usize = 6000;
    let predictions = unique("fair-preds");
    let labels = unique("fair-labels");
    create_topic(&predictions, 3);
    create_topic(&labels, 3);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("fair.toml"),
        r#"
[[rule]]
name = "DisparateImpactNow"
metric = "demographic_parity_ratio"
window = "1h"
condition = "< 0.8"
min_samples = 1000
summary = "{{ $labels.model }}: parity ratio {{ $value }}"

[[rule]]
name = "ConversionDrop"
metric = "conversion_rate"
window = "1h"
condition = "< reference * 0.9"
min_samples = 1000

[[rule]]
name = "SegmentLessAccurate"
segments = ["*"]
metric = "accuracy"
window = "1h"
condition = "< reference * 0.95"
min_samples = 500
summary = "{{ $labels.model }} in {{ $labels.segment }}: accuracy {{ $value }}"
"#,
    )
    .unwrap();
    let extra = format!(
        "[[source]]\ntopic = \"{labels}\"\nrole = \"labels\"\n\n[windows]\nwindows = [\"1h\"]\ntick = \"1s\"\n\n\
         [labels]\nsegment_key = \"group\"\n\n[alerting]\nrules = [\"{}\"]\n\n\
         [models.credit]\nreference_metrics = {{ conversion_rate = 0.6, accuracy = 0.73 }}\n\n\
         [models.credit.value]\ntp = 40\nfp = -5\nfn = -100.5\n",
        rules.path().display()
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);

    // Three groups of different sizes and base rates; the model's score is shifted
    // down for group c, so c is selected less often (and its positives missed more).
    let mut rng = SplitMix::new(23);
    let t0 = now_ms() - 1_800_000;
    let (mut preds, mut outcomes) = (Vec::new(), Vec::new());
    let (mut y_true, mut y_pred, mut group) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..N {
        let u = rng.uniform();
        let (g, base, shift) = if u < 0.45 {
            ("a", 0.4, 0.0)
        } else if u < 0.8 {
            ("b", 0.5, 0.05)
        } else {
            ("c", 0.45, -0.2)
        };
        let y = rng.uniform() < base;
        let score = (if y { 0.62 } else { 0.38 } + 0.2 * rng.normal() + shift).clamp(0.0, 1.0);
        let id = format!("r{i}");
        preds.push(json!({"model": "credit", "model_version": "v1", "id": id,
            "ts": t0 + i as i64 * 100, "prediction": score, "segment": {"group": g}}));
        outcomes.push(json!({"model": "credit", "id": id, "label": i64::from(y)}));
        y_true.push(i64::from(y));
        y_pred.push(i64::from(score >= 0.5));
        group.push(g);
    }
    let records = |values: &[Value]| -> Records {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i}"), v.to_string().into_bytes()))
            .collect()
    };
    produce(&labels, &records(&outcomes[..N / 2]));
    produce(&predictions, &records(&preds));
    produce(&labels, &records(&outcomes[N / 2..]));
    let daemon = Daemon::start(&config, "run.log");
    // 404 until the first record of the model is in.
    let performance = || -> Value {
        match http_get(daemon.port, "/api/v1/models/credit/performance?window=1h") {
            Some((200, body)) => serde_json::from_str(&body).unwrap(),
            _ => Value::Null,
        }
    };
    let mut p = Value::Null;
    let joined = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
        p = performance();
        p["labelled"] == N
    });
    assert!(joined, "not every label joined: {p}\n{}", daemon.log_text());
    let oracle = fairlearn(
        &json!({"y_true": y_true, "y_pred": y_pred, "group": group}),
        rules.path(),
    );
    let f = &p["fairness"];
    for metric in [
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equal_opportunity_difference",
        "equalized_odds_difference",
    ] {
        let (ours, theirs) = (
            f[metric]["value"].as_f64().unwrap(),
            oracle[metric].as_f64().unwrap(),
        );
        assert!(
            (ours - theirs).abs() < 1e-9,
            "{metric}: driftd {ours}, fairlearn {theirs}"
        );
        let (low, high) = (
            f[metric]["low"].as_f64().unwrap(),
            f[metric]["high"].as_f64().unwrap(),
        );
        assert!(low <= ours && ours <= high, "{metric}: {}", f[metric]);
    }
    assert!(
        oracle["demographic_parity_ratio"].as_f64().unwrap() < 0.8,
        "the scenario selects c less often: {oracle}"
    );
    let groups = f["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{f}");
    for g in groups {
        let name = g["group"].as_str().unwrap();
        let theirs = &oracle["groups"][name];
        assert_eq!(g["samples"].as_f64(), theirs["count"].as_f64(), "{name}");
        for rate in [
            "selection_rate",
            "true_positive_rate",
            "false_positive_rate",
            "false_negative_rate",
            "accuracy",
        ] {
            let (ours, theirs) = (g[rate].as_f64().unwrap(), theirs[rate].as_f64().unwrap());
            assert!(
                (ours - theirs).abs() < 1e-9,
                "{name} {rate}: driftd {ours}, fairlearn {theirs}"
            );
        }
    }

    // The gauges and the rule: the same numbers.
    let ratio = f["demographic_parity_ratio"]["value"].as_f64().unwrap();
    let m = daemon.wait_metrics(Duration::from_secs(30), |m| {
        m.get("driftd_alerts{alertname=\"DisparateImpactNow\",alertstate=\"firing\",deployment=\"\",feature=\"\",model=\"credit\",segment=\"\",severity=\"warning\",version=\"\",window=\"1h\"}")
            == Some(1.0)
    });
    let gauge = m
        .get("driftd_fairness{bound=\"estimate\",metric=\"demographic_parity_ratio\",model=\"credit\",version=\"v1\",window=\"1h\"}")
        .unwrap();
    assert!((gauge - ratio).abs() < 1e-12, "{gauge} vs {ratio}");
    // Business outcomes, from the generated rows.
    let count = |f: &dyn Fn(i64, i64) -> bool| {
        y_true
            .iter()
            .zip(&y_pred)
            .filter(|(y, p)| f(**y, **p))
            .count() as f64
    };
    let (tp, fp, fn_) = (
        count(&|y, p| y == 1 && p == 1),
        count(&|y, p| y == 0 && p == 1),
        count(&|y, p| y == 1 && p == 0),
    );
    let metrics = &p["metrics"];
    let close = |key: &str, want: f64| {
        let got = metrics[key].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{key}: {got} vs {want}"
        );
    };
    let n = N as f64;
    close("conversion_rate", (tp + fn_) / n);
    close("predicted_positive_rate", (tp + fp) / n);
    let value = 40.0 * tp - 5.0 * fp - 100.5 * fn_;
    close("business_value", value);
    close("business_value_per_prediction", value / n);
    assert!(
        (tp + fn_) / n < 0.54,
        "the base rates make conversion < 0.6 × 0.9: {metrics}"
    );
    daemon.wait_metrics(Duration::from_secs(30), |m| {
        m.get("driftd_alerts{alertname=\"ConversionDrop\",alertstate=\"firing\",deployment=\"\",feature=\"\",model=\"credit\",segment=\"\",severity=\"warning\",version=\"\",window=\"1h\"}")
            == Some(1.0)
    });
    // Per segment: the gauge, and the rule firing for c alone.
    let accuracy_of = |g: &str| oracle["groups"][g]["accuracy"].as_f64().unwrap();
    let threshold = 0.73 * 0.95;
    assert!(
        accuracy_of("c") < threshold
            && accuracy_of("a") > threshold
            && accuracy_of("b") > threshold,
        "the scenario: c alone below {threshold}: {oracle}"
    );
    let m = daemon.wait_metrics(Duration::from_secs(30), |m| {
        m.get("driftd_alerts{alertname=\"SegmentLessAccurate\",alertstate=\"firing\",deployment=\"\",feature=\"\",model=\"credit\",segment=\"c\",severity=\"warning\",version=\"\",window=\"1h\"}")
            == Some(1.0)
    });
    let segment_alerts: Vec<&String> =
        m.0.keys()
            .filter(|k| k.starts_with("driftd_alerts{alertname=\"SegmentLessAccurate\""))
            .collect();
    assert_eq!(segment_alerts.len(), 1, "{segment_alerts:?}");
    let gauge = m
        .get("driftd_segment_performance{metric=\"accuracy\",model=\"credit\",segment=\"c\",version=\"v1\",window=\"1h\"}")
        .unwrap();
    assert!((gauge - accuracy_of("c")).abs() < 1e-12, "{gauge}");
    let c_selection = groups
        .iter()
        .find(|g| g["group"] == "c")
        .map(|g| g["selection_rate"].as_f64().unwrap())
        .unwrap();
    let gauge = m
        .get("driftd_segment_rate{model=\"credit\",rate=\"selection\",segment=\"c\",version=\"v1\",window=\"1h\"}")
        .unwrap();
    assert!((gauge - c_selection).abs() < 1e-12);
    daemon.sigterm();
}
