//! The producer side against the real broker: the Python client's own tests
//! (clients/python/tests), then the five producer mistakes of a Python service
//! (`ts` as `time.time() * 1000`, as `time.time()`, as `datetime.now().isoformat()`,
//! NaN features, numpy values) sent through the client, all counted exactly with their
//! labels joined, and sent raw, counted or dead-lettered as docs/sending-records.md
//! says; and a `confluent-json` source with `timestamp_unit` and `naive_timezone`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn python() -> String {
    std::env::var("DRIFTD_PYTHON").expect(
        "DRIFTD_PYTHON is not set: run scripts/test.sh, which installs confluent-kafka and the client",
    )
}

const CLIENT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/python");

#[test]
fn the_clients_own_tests_pass_against_the_broker() {
    let out = Command::new(python())
        .args(["-m", "unittest", "discover", "-s", "tests", "-v"])
        .current_dir(CLIENT_DIR)
        .env("DRIFTD_TEST_BROKERS", brokers())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client tests failed:\n{log}");
    assert!(log.contains("Ran 5 tests"), "{log}");
}

/// Runs clients/python/tests/produce_mistakes.py; its JSON summary.
fn produce_mistakes(mode: &str, predictions: &str, labels: &str, n: usize) -> Value {
    let out = Command::new(python())
        .arg(format!("{CLIENT_DIR}/tests/produce_mistakes.py"))
        .args([mode, &brokers(), predictions, labels, &n.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "produce_mistakes.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(summary: &Value, kind: &str) -> f64 {
    summary["sent"][kind].as_f64().unwrap_or(0.0)
}

#[test]
fn producer_mistakes_through_the_client_are_counted_and_raw_ones_as_documented() {
    let predictions = unique("py-preds");
    let labels = unique("py-labels");
    create_topic(&predictions, 3);
    create_topic(&labels, 3);
    let extra = format!(
        "[[source]]\ntopic = \"{labels}\"\nrole = \"labels\"\n\n\
         [windows]\nwindows = [\"1h\"]\ntick = \"1s\"\n\n[models.churn]\n"
    );
    let config = write_config_with(&predictions, &unique("py-dlq"), &unique("group"), &extra);
    let daemon = Daemon::start(&config, "run.log");

    // Through the client: every prediction counted, every label joined, none refused.
    let n = 600;
    let sent = produce_mistakes("client", &predictions, &labels, n);
    assert_eq!(sent["delivered"], n + n.div_ceil(3), "{sent}");
    assert_eq!(sent["dropped"], 0, "{sent}");
    let m = daemon.assert_counted_exactly(n as u64, Duration::from_secs(60));
    assert_eq!(
        m.sum("driftd_decode_errors_total"),
        0.0,
        "{}",
        daemon.log_text()
    );
    let labelled = wait_for(Duration::from_secs(30), Duration::from_millis(500), || {
        let (_, body) = http_get(config.port, "/api/v1/models/churn/performance?window=1h")?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["labelled"] == n.div_ceil(3)).then_some(v)
    });
    assert!(
        labelled.is_some(),
        "labels not all joined: {}",
        daemon.log_text()
    );

    // Raw: floats of milliseconds and aware ISO times are counted; seconds and naive
    // times refused as invalid_value, NaN as invalid_json.
    let raw = produce_mistakes("raw", &predictions, &labels, n);
    let accepted = count(&raw, "float_ms") + count(&raw, "aware_datetime");
    let invalid_value =
        count(&raw, "seconds") + count(&raw, "naive_iso") + count(&raw, "naive_datetime");
    let nan = count(&raw, "nan");
    assert_eq!(accepted + invalid_value + nan, n as f64, "{raw}");
    assert!(accepted > 0.0 && invalid_value > 0.0 && nan > 0.0, "{raw}");
    assert_eq!(raw["unsendable_with_numpy"]["float_ms"], n / 5, "{raw}");
    let errors = |m: &Metrics, reason: &str| {
        m.get(&format!(
            "driftd_decode_errors_total{{reason=\"{reason}\"}}"
        ))
        .unwrap_or(0.0)
    };
    let m = daemon.wait_metrics(Duration::from_secs(60), |m| {
        m.sum("driftd_decode_errors_total") >= invalid_value + nan
    });
    assert_eq!(errors(&m, "invalid_value"), invalid_value);
    assert_eq!(errors(&m, "invalid_json"), nan);
    daemon.assert_counted_exactly(n as u64 + accepted as u64, Duration::from_secs(30));
}

/// One Confluent-framed record: magic byte 0, schema id, JSON.
fn framed(schema_id: u32, json: &str) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(json.as_bytes());
    out
}

#[test]
fn a_confluent_json_source_in_seconds_and_naive_local_times() {
    let topic = unique("confluent");
    let dlq = unique("confluent-dlq");
    create_topic(&topic, 1);
    create_topic(&dlq, 1);
    let fields = "format = \"confluent-json\"\n[source.fields]\ntimestamp_unit = \"s\"\n\
                  naive_timezone = \"Europe/Berlin\"\n\n[models.churn]\n\n\
                  [limits]\nmax_future = \"5m\"\n";
    let config = write_config_with(&topic, &dlq, &unique("group"), "");
    // The extra TOML goes inside the one [[source]] table: append to it.
    let text = std::fs::read_to_string(&config.path).unwrap();
    let text = text.replacen(
        "role = \"predictions\"\n",
        &format!("role = \"predictions\"\n{fields}"),
        1,
    );
    std::fs::write(&config.path, text).unwrap();
    let daemon = Daemon::start(&config, "run.log");

    let now_s = now_ms() as f64 / 1000.0;
    // Berlin's wall clock now, written without an offset.
    let berlin = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let mut records = Vec::new();
    for i in 0..40 {
        let ts = if i % 2 == 0 {
            format!("{:.3}", now_s - i as f64)
        } else {
            format!("\"{berlin}\"")
        };
        let json = format!(
            "{{\"model\":\"churn\",\"id\":\"c{i}\",\"ts\":{ts},\"features\":{{\"age\":{i}}},\"prediction\":0.5}}"
        );
        records.push((format!("c{i}"), framed(7, &json)));
    }
    // Bare JSON on a confluent-json topic, and a framed record that is not JSON.
    records.push(("bare".into(), b"{\"model\":\"churn\"}".to_vec()));
    records.push(("broken".into(), framed(9, "{\"model\":")));
    produce(&topic, &records);

    daemon.assert_counted_exactly(40, Duration::from_secs(60));
    let dead = read_topic(&dlq, 2, Duration::from_secs(30));
    let mut got: Vec<(String, Option<String>)> = dead
        .iter()
        .map(|(_, h)| {
            (
                h["driftd-reason"].clone(),
                h.get("driftd-schema-id").cloned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("invalid_json".to_string(), Some("9".to_string())),
            ("wire_format".to_string(), None)
        ]
    );
    // Seconds read as milliseconds would be refused (1970), and Berlin's wall clock
    // read as UTC would be an hour ahead, past max_future: both would be dead letters.
    assert_eq!(daemon.metrics().sum("driftd_late_events_total"), 0.0);
}
