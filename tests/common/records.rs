//! Test data: clocks, unique names, deterministic streams, malformed records, and
//! comparing JSON documents.

use std::collections::BTreeMap;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// A deterministic stream: `valid` records over three models (four model/version
/// pairs, uneven shares) plus the expected counts.
/// (key, payload) pairs ready to produce.
pub type Records = Vec<(String, Vec<u8>)>;
/// (model, version) → count.
pub type Counts = BTreeMap<(String, String), u64>;

pub fn valid_records(valid: usize, seed: u64) -> (Records, Counts) {
    let pairs = [
        ("churn", "v7"),
        ("churn", "v8"),
        ("fraud", "2024-01"),
        ("ltv", "v1"),
    ];
    let mut rng = driftd::base::rng::SplitMix::new(seed);
    let mut expected = BTreeMap::new();
    let mut records = Vec::with_capacity(valid);
    // An hour ago, whole minutes: inside every window tier, never from the future.
    let start_ms = (now_ms() / 60_000 - 60) * 60_000;
    for i in 0..valid {
        // Shares 10 % / 30 % / 45 % / 15 %.
        let u = rng.uniform();
        let (model, version) = if u < 0.10 {
            pairs[0]
        } else if u < 0.40 {
            pairs[1]
        } else if u < 0.85 {
            pairs[2]
        } else {
            pairs[3]
        };
        let payload = serde_json::json!({
            "model": model, "model_version": version, "id": format!("req-{i}"),
            "ts": start_ms + i as i64,
            "features": {"age": (rng.uniform() * 80.0).round(), "plan": "gold", "income": null},
            "prediction": rng.uniform(), "latency_ms": 12.5,
        });
        *expected
            .entry((model.to_string(), version.to_string()))
            .or_insert(0u64) += 1;
        records.push((format!("k{i}"), payload.to_string().into_bytes()));
    }
    (records, expected)
}

/// `per_kind` malformed records of each of five kinds, with the reason driftd
/// must give each kind.
pub fn malformed_records(per_kind: usize) -> Vec<(String, Vec<u8>, &'static str)> {
    let mut out = Vec::new();
    for i in 0..per_kind {
        out.push((
            format!("bad-json-{i}"),
            format!("{{\"model\": \"churn\", \"id\": {i}").into_bytes(),
            "invalid_json",
        ));
        let mut utf8 = format!("{{\"model\": \"churn\", \"id\": \"{i}\", \"x\": \"").into_bytes();
        utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
        out.push((format!("bad-utf8-{i}"), utf8, "invalid_utf8"));
        out.push((
            format!("bad-type-{i}"),
            format!("{{\"model\": \"churn\", \"features\": [{i}]}}").into_bytes(),
            "wrong_type",
        ));
        out.push((
            format!("no-model-{i}"),
            format!("{{\"id\": \"{i}\", \"features\": {{}}}}").into_bytes(),
            "missing_field",
        ));
        out.push((format!("empty-{i}"), Vec::new(), "empty"));
    }
    out
}

/// Asserts two JSON documents are equal, floating-point numbers to a relative 1e-9
/// (sums depend on the order partitions interleave in); says where they differ.
pub fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let kx: Vec<_> = x.keys().collect();
            let ky: Vec<_> = y.keys().collect();
            assert_eq!(kx, ky, "keys at {at}");
            for (k, v) in x {
                assert_json_close(v, &y[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "length at {at}");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                assert_json_close(v, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                "{x} != {y} at {at}"
            );
        }
        _ => assert_eq!(a, b, "at {at}"),
    }
}
