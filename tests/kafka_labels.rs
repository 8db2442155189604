//! Ground truth against the real broker: labels that arrive before, with, and days
//! (in event time) after their predictions are joined, and the window's performance
//! metrics equal scikit-learn's on the joined pairs (AUC within its reported bound):
//! a binary classifier, a regression model and a multiclass classifier.

mod common;

use std::time::Duration;

use common::*;
use driftd::base::rng::SplitMix;
use serde_json::{json, Value};

fn records(values: &[Value]) -> Records {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("k{i}-{}", v["id"]), v.to_string().into_bytes()))
        .collect()
}

fn sklearn(pairs: &Value, dir: &std::path::Path) -> Value {
    python_oracle("golden.py", &["sklearn"], pairs, dir)
}

fn performance(daemon: &Daemon, model: &str) -> Value {
    let (status, body) = http_get(
        daemon.port,
        &format!("/api/v1/models/{model}/performance?window=1h"),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn labels_in_any_order_give_scikit_learn_metrics() {
    let predictions = unique("preds");
    let labels = unique("labels");
    create_topic(&predictions, 3);
    create_topic(&labels, 3);
    let extra = format!(
        "[[source]]\ntopic = \"{labels}\"\nrole = \"labels\"\n\n\
         [windows]\nwindows = [\"1h\"]\ntick = \"1s\"\n\n[labels]\nsegment_key = \"region\"\n\n\
         [labels.tasks]\nltv = \"regression\"\n"
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);
    let daemon = Daemon::start(&config, "run.log");

    let mut rng = SplitMix::new(3);
    let t0 = now_ms() - 1_800_000;
    let mut binary_pairs = Vec::new();
    let mut by_region = std::collections::BTreeMap::new();
    let mut regression_pairs = Vec::new();
    let (mut early, mut together_p, mut together_l, mut late_p, mut late_l, mut preds_first) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..3000 {
        let ts = t0 + i as i64 * 400;
        let score = (rng.uniform() * 1000.0).round() / 1000.0;
        let y = i64::from(rng.uniform() < 0.2 + 0.6 * score);
        let id = format!("c{i}");
        let region = ["eu", "us", "apac"][i % 3 / 2 + i % 2];
        let p = json!({"model": "churn", "model_version": "v1", "id": id, "ts": ts,
                       "prediction": score, "segment": {"region": region}});
        let unlabeled = i % 10 == 9;
        if !unlabeled {
            binary_pairs.push(json!([score, y]));
            let seg = by_region.entry(region).or_insert((0u64, 0u64));
            seg.0 += 1;
            seg.1 += u64::from((score >= 0.5) == (y == 1));
        }
        match (unlabeled, i % 3) {
            (true, _) => preds_first.push(p),
            (false, 0) => {
                early.push(json!({"model": "churn", "id": id, "label": y, "ts": ts - 60_000}));
                preds_first.push(p);
            }
            (false, 1) => {
                together_l.push(json!({"model": "churn", "id": id, "label": y == 1}));
                together_p.push(p);
            }
            _ => {
                late_l.push(
                    json!({"model": "churn", "id": id, "label": y, "ts": ts + 3 * 86_400_000}),
                );
                late_p.push(p);
            }
        }
    }
    let mut class_pairs = Vec::new();
    let intents = ["billing", "cancel", "upgrade", "other"];
    for i in 0..800 {
        let actual = intents[(rng.next_u64() % 4) as usize];
        let predicted = if rng.uniform() < 0.7 {
            actual
        } else {
            intents[(rng.next_u64() % 4) as usize]
        };
        let id = format!("n{i}");
        class_pairs.push(json!([predicted, actual]));
        together_p.push(json!({"model": "intent", "id": id, "ts": t0 + i as i64 * 1000, "prediction": predicted}));
        together_l.push(json!({"model": "intent", "id": id, "label": actual}));
    }
    for i in 0..1000 {
        let actual = 100.0 + 30.0 * rng.normal();
        let predicted = actual + 5.0 * rng.normal() + 2.0;
        let id = format!("l{i}");
        regression_pairs.push(json!([predicted, actual]));
        late_p.push(
            json!({"model": "ltv", "id": id, "ts": t0 + i as i64 * 1000, "prediction": predicted}),
        );
        late_l.push(json!({"model": "ltv", "id": id, "label": actual}));
    }

    // Labels that arrive before their predictions.
    produce(&labels, &records(&early));
    daemon.wait_metrics(Duration::from_secs(120), |m| {
        m.sum("driftd_labels_total") >= early.len() as f64
    });
    produce(&predictions, &records(&preds_first));
    // Labels and predictions at the same time.
    produce(&labels, &records(&together_l));
    produce(&predictions, &records(&together_p));
    // Predictions now, labels afterwards (event time days later).
    produce(&predictions, &records(&late_p));
    let total_preds = (preds_first.len() + together_p.len() + late_p.len()) as f64;
    daemon.wait_metrics(Duration::from_secs(120), |m| {
        m.sum("driftd_events_total") >= total_preds
    });
    produce(&labels, &records(&late_l));

    let labelled = binary_pairs.len() as f64;
    let m = daemon.wait_metrics(Duration::from_secs(120), |m| {
        m.get("driftd_performance_accuracy{model=\"ltv\",version=\"unversioned\",window=\"1h\"}")
            .is_none()
            && m.get("driftd_label_coverage_ratio{model=\"churn\",version=\"v1\",window=\"1h\"}")
                == Some(labelled / 3000.0)
            && m.get("driftd_performance_mae{model=\"ltv\",version=\"unversioned\",window=\"1h\"}")
                .is_some()
            && m.get(
                "driftd_label_coverage_ratio{model=\"ltv\",version=\"unversioned\",window=\"1h\"}",
            ) == Some(1.0)
    });
    assert_eq!(
        m.get("driftd_label_coverage_ratio{model=\"churn\",version=\"v1\",window=\"1h\"}"),
        Some(0.9),
        "log:\n{}",
        daemon.log_text()
    );

    let want = sklearn(
        &json!({"binary": binary_pairs, "regression": regression_pairs,
                "classification": class_pairs, "threshold": 0.5}),
        config.dir.path(),
    );
    let churn = performance(&daemon, "churn");
    assert_eq!(churn["labelled"], binary_pairs.len());
    let got = &churn["metrics"];
    for k in ["accuracy", "precision", "recall", "f1", "log_loss"] {
        let (g, w) = (
            got[k].as_f64().unwrap(),
            want["binary"][k].as_f64().unwrap(),
        );
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{k}: driftd {g}, scikit-learn {w}"
        );
    }
    let (auc, bound) = (
        got["auc"].as_f64().unwrap(),
        got["auc_bound"].as_f64().unwrap(),
    );
    let sk_auc = want["binary"]["auc"].as_f64().unwrap();
    assert!(
        (auc - sk_auc).abs() <= bound + 1e-12,
        "AUC {auc} vs {sk_auc}, bound {bound}"
    );
    assert!(
        bound < 0.01,
        "1000 score bins keep the AUC bound small: {bound}"
    );

    // Per segment: each region's own accuracy.
    for (region, (n, correct)) in &by_region {
        let seg = &churn["segments"][region];
        assert_eq!(seg["samples"], *n, "{region}");
        assert_eq!(
            seg["accuracy"].as_f64().unwrap(),
            *correct as f64 / *n as f64,
            "{region}"
        );
    }
    assert_eq!(by_region.len(), 3);

    let ltv = performance(&daemon, "ltv");
    assert_eq!(ltv["label_coverage"], 1.0);
    for k in ["mae", "mse", "rmse", "mape", "mean_error"] {
        let (g, w) = (
            ltv["metrics"][k].as_f64().unwrap(),
            want["regression"][k].as_f64().unwrap(),
        );
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{k}: driftd {g}, scikit-learn {w}"
        );
    }
    let intent = performance(&daemon, "intent");
    for k in ["accuracy", "macro_f1"] {
        let (g, w) = (
            intent["metrics"][k].as_f64().unwrap(),
            want["classification"][k].as_f64().unwrap(),
        );
        assert!((g - w).abs() <= 1e-12, "{k}: driftd {g}, scikit-learn {w}");
    }
    assert!(daemon.sigterm().success());
}
