//! Rolling windows in the daemon against the real broker: the API's window report
//! equals `driftd report` on exactly the same rows, drift shows up at the first tick
//! whose window holds it, and a SIGKILL mid-stream changes nothing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use driftd::base::rng::SplitMix;
use serde_json::{json, Value};

const WINDOWS: &str = "[windows]\nwindows = [\"5m\", \"1h\"]\ntick = \"1s\"\n";

/// One prediction record; `drifted` shifts age, changes the plan mix and makes income
/// missing far more often.
fn record(rng: &mut SplitMix, i: usize, ts: i64, drifted: bool) -> Value {
    let age = (40.0 + 10.0 * rng.normal() + if drifted { 12.0 } else { 0.0 }).round();
    let u = rng.uniform();
    let plan = if drifted {
        ["basic", "plus", "gold"][usize::from(u > 0.2) + usize::from(u > 0.4)]
    } else {
        ["basic", "plus", "gold"][usize::from(u > 0.6) + usize::from(u > 0.9)]
    };
    let income = if rng.uniform() < if drifted { 0.4 } else { 0.02 } {
        Value::Null
    } else {
        json!((10.0 + 0.5 * rng.normal()).exp().round())
    };
    json!({
        "model": "churn", "model_version": "v7", "id": format!("r{i}"), "ts": ts,
        "features": {"age": age, "income": income, "plan": plan,
                     "tenure": (rng.uniform() * 60.0).floor()},
        "prediction": rng.uniform(), "latency_ms": 5.0 + 20.0 * rng.uniform(),
    })
}

fn write_jsonl(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn to_kafka(records: &[Value]) -> Records {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("k{i}"), r.to_string().into_bytes()))
        .collect()
}

/// Imports a reference of `n` undrifted records for model churn.
fn import_reference(config: &TestConfig, n: usize) -> std::path::PathBuf {
    let mut rng = SplitMix::new(99);
    let reference: Vec<Value> = (0..n).map(|i| record(&mut rng, i, 0, false)).collect();
    let path = config.dir.path().join("reference.jsonl");
    write_jsonl(&path, &reference);
    let cfg = config.path.to_str().unwrap();
    driftd([
        "reference",
        "import",
        "--model",
        "churn",
        "--file",
        path.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    path
}

fn api_drift(daemon: &Daemon, window: &str) -> Value {
    let (status, body) = http_get(
        daemon.port,
        &format!("/api/v1/models/churn/drift?window={window}"),
    )
    .expect("API answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Every number of every feature in `api` equals `report`'s to 1e-9 (same keys).
fn assert_same_features(api: &Value, report: &Value) {
    assert_eq!(api["current"]["rows"], report["current"]["rows"]);
    assert_eq!(api["reference"]["rows"], report["reference"]["rows"]);
    let find = |v: &Value, name: &str| -> Value {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap()
    };
    let features = report["features"].as_array().unwrap();
    assert_eq!(api["features"].as_array().unwrap().len(), features.len());
    for rf in features {
        let name = rf["name"].as_str().unwrap();
        let af = find(api, name);
        for (key, want) in rf.as_object().unwrap() {
            let got = &af[key];
            match (want.as_f64(), got.as_f64()) {
                (Some(w), Some(g)) => assert!(
                    (w - g).abs() <= 1e-9 * w.abs().max(1.0),
                    "{name}.{key}: API {g} vs report {w}"
                ),
                _ => assert_eq!(got, want, "{name}.{key}"),
            }
        }
    }
}

fn report_on(reference: &Path, rows: &[Value], dir: &Path) -> Value {
    let current = dir.join("current.jsonl");
    write_jsonl(&current, rows);
    let out = driftd([
        "report",
        "--format",
        "json",
        "--reference",
        reference.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ]);
    serde_json::from_str(&out).unwrap()
}

fn gauge(m: &Metrics, name: &str, window: &str, feature: &str) -> Option<f64> {
    m.get(&format!(
        "{name}{{feature=\"{feature}\",model=\"churn\",version=\"v7\",window=\"{window}\"}}"
    ))
}

#[test]
fn window_equals_offline_report_and_drift_shows_at_the_next_tick() {
    let topic = unique("windows");
    create_topic(&topic, 3);
    let config = write_config_with(&topic, &unique("dlq"), &unique("group"), WINDOWS);
    let reference = import_reference(&config, 5000);
    let daemon = Daemon::start(&config, "run.log");

    let mut rng = SplitMix::new(5);
    let t0 = now_ms();
    // Undrifted traffic from three minutes to one minute ago (inside the 5m window).
    let before: Vec<Value> = (0..3000)
        .map(|i| record(&mut rng, i, t0 - 180_000 + (i as i64) * 40, false))
        .collect();
    produce(&topic, &to_kafka(&before));
    let m = daemon.wait_metrics(Duration::from_secs(240), |m| {
        gauge(m, "driftd_feature_drifted", "5m", "age").is_some()
            && m.get("driftd_window_events{model=\"churn\",version=\"v7\",window=\"5m\"}")
                == Some(3000.0)
    });
    assert_eq!(
        gauge(&m, "driftd_feature_drifted", "5m", "age"),
        Some(0.0),
        "no drift yet; log:\n{}",
        daemon.log_text()
    );
    assert!(gauge(&m, "driftd_feature_psi", "5m", "age").unwrap() < 0.1);

    // Drift injected now: visible at the first tick whose window holds it.
    let t1 = now_ms();
    let after: Vec<Value> = (0..3000)
        .map(|i| record(&mut rng, 3000 + i, t1 - 20_000 + (i as i64) * 6, true))
        .collect();
    produce(&topic, &to_kafka(&after));
    let m = daemon.wait_metrics(Duration::from_secs(240), |m| {
        m.get("driftd_window_events{model=\"churn\",version=\"v7\",window=\"1h\"}") == Some(6000.0)
    });
    assert_eq!(gauge(&m, "driftd_feature_drifted", "5m", "age"), Some(1.0));
    assert!(gauge(&m, "driftd_feature_missing_ratio", "5m", "income").unwrap() > 0.15);
    assert_eq!(gauge(&m, "driftd_feature_drifted", "5m", "plan"), Some(1.0));
    assert!(m.get("driftd_latency_seconds{model=\"churn\",percentile=\"99\",version=\"v7\",window=\"1h\"}").unwrap() > 0.02);

    // The 1h window over exactly these 6000 rows equals driftd report on them.
    let all: Vec<Value> = before.iter().chain(&after).cloned().collect();
    let api = api_drift(&daemon, "1h");
    assert_eq!(api["events"], 6000);
    let offline = report_on(&reference, &all, config.dir.path());
    assert_same_features(&api, &offline);
    assert!(api["drifted"].as_array().unwrap().contains(&json!("age")));

    // History: one point per bucket, served from the kept buckets.
    let path = format!(
        "/api/v1/models/churn/history?metric=psi&feature=age&from={}",
        t0 - 600_000
    );
    let (status, body) = http_get(daemon.port, &path).unwrap();
    assert_eq!(status, 200, "{body}");
    let history: Value = serde_json::from_str(&body).unwrap();
    let points = history["points"].as_array().unwrap();
    let events: u64 = points.iter().map(|p| p["events"].as_u64().unwrap()).sum();
    assert_eq!(events, 6000);
    // Buckets split at minute boundaries: a sliver of a few dozen events has a noisy
    // PSI, so compare the well-filled ones.
    let full: Vec<&Value> = points
        .iter()
        .filter(|p| p["events"].as_u64().unwrap() >= 500)
        .collect();
    let first = full.first().unwrap()["value"].as_f64().unwrap();
    let last = full.last().unwrap()["value"].as_f64().unwrap();
    assert!(
        last > 0.2 && first < 0.2,
        "PSI per bucket rises with the drift: {points:?}"
    );
    let (status, _) = http_get(daemon.port, "/api/v1/models/churn/history?metric=psi").unwrap();
    assert_eq!(status, 400, "a feature metric needs a feature");
    let (status, body) = http_get(
        daemon.port,
        "/api/v1/models/churn/history?metric=latency_p99_ms",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");

    let (status, body) = http_get(daemon.port, "/api/v1/models").unwrap();
    assert_eq!(status, 200);
    let models: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(models["models"][0]["model"], "churn");
    assert_eq!(models["models"][0]["versions"], json!(["v7"]));
    let (status, _) = http_get(daemon.port, "/api/v1/models/churn/drift?window=7w").unwrap();
    assert_eq!(status, 400);
    let (status, _) = http_get(daemon.port, "/api/v1/models/nosuch/drift").unwrap();
    assert_eq!(status, 404);
    assert!(daemon.sigterm().success());
}

#[test]
fn windows_after_sigkill_equal_an_uninterrupted_run() {
    let topic = unique("windows-kill");
    create_topic(&topic, 3);
    let config = write_config_with(&topic, &unique("dlq"), &unique("group"), WINDOWS);
    let reference = import_reference(&config, 3000);
    let mut rng = SplitMix::new(17);
    let t0 = now_ms();
    let rows: Vec<Value> = (0..60_000)
        .map(|i| record(&mut rng, i, t0 - 1_200_000 + (i as i64) * 20, i >= 30_000))
        .collect();
    produce(&topic, &to_kafka(&rows));

    let daemon = Daemon::start(&config, "run1.log");
    daemon.wait_metrics(Duration::from_secs(60), |m| {
        m.get("driftd_assigned_partitions") == Some(3.0)
    });
    std::thread::sleep(Duration::from_millis(700));
    daemon.sigkill();
    let checkpointed: u64 = state_counts(&config.path).values().sum();
    eprintln!("killed with {checkpointed} events checkpointed");
    assert!(checkpointed < 60_000, "the kill must land mid-stream");

    let daemon = Daemon::start(&config, "run2.log");
    daemon.wait_metrics(Duration::from_secs(240), |m| {
        m.get("driftd_window_events{model=\"churn\",version=\"v7\",window=\"1h\"}")
            == Some(60_000.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    let api = api_drift(&daemon, "1h");
    assert_eq!(api["events"], 60_000, "log:\n{}", daemon.log_text());
    let offline = report_on(&reference, &rows, config.dir.path());
    assert_same_features(&api, &offline);
    assert!(daemon.sigterm().success());
}
