//! Cardinality a producer controls: a model whose producer stamps a new version (and
//! a new feature name) on every other record keeps at most `[limits] max_versions`
//! versions, the rest is dead-lettered with its reason, and `/metrics` stays small.

mod common;

use std::time::Duration;

use common::*;

/// Resident memory of a process, from /proc (kB).
fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .ok()
}

#[test]
fn a_new_version_per_record_is_capped_and_dead_lettered() {
    const RECORDS: usize = 100_000;
    const MAX_VERSIONS: usize = 20;
    let topic = unique("cardinality");
    let dlq = unique("cardinality-dlq");
    create_topic(&topic, 3);
    create_topic(&dlq, 1);
    let now = now_ms();
    // First 1,000 records of the steady version alone (so that it is counted
    // whatever order the partitions are read in); then every other record is of the
    // steady version, and the others each carry a version and a feature name never
    // seen before.
    const HEAD: usize = 1_000;
    let records: Records = (0..HEAD + RECORDS)
        .map(|i| {
            let (version, feature) = if i < HEAD || i % 2 == 0 {
                ("stable".to_string(), "age".to_string())
            } else {
                (format!("build-{i}"), format!("feature-{i}"))
            };
            let payload = serde_json::json!({
                "model": "m", "model_version": version, "id": format!("r{i}"),
                "ts": now - 60_000 + (i % 60_000) as i64,
                "features": {feature: 1.0}, "prediction": 0.5,
            });
            (format!("k{i}"), payload.to_string().into_bytes())
        })
        .collect();
    let (head, rest) = records.split_at(HEAD);

    let config = write_config_with(
        &topic,
        &dlq,
        &unique("group"),
        &format!("[limits]\nmax_versions = {MAX_VERSIONS}\n[windows]\ntick = \"1s\"\n"),
    );
    let daemon = Daemon::start(&config, "run.log");
    produce(&topic, head);
    daemon.wait_metrics(Duration::from_secs(60), |m| {
        m.sum("driftd_events_total") >= HEAD as f64
    });
    let rss_before = rss_kb(daemon.child.id());
    produce(&topic, rest);

    // The steady version, and the first versions up to the cap (steady among them).
    let admitted = HEAD + RECORDS / 2 + (MAX_VERSIONS - 1);
    let refused = HEAD + RECORDS - admitted;
    let m = daemon.wait_metrics(Duration::from_secs(180), |m| {
        m.sum("driftd_events_total") + m.sum("driftd_decode_errors_total")
            >= (HEAD + RECORDS) as f64
    });
    assert_eq!(
        m.sum("driftd_events_total"),
        admitted as f64,
        "log:\n{}",
        daemon.log_text()
    );
    assert_eq!(
        m.get(r#"driftd_decode_errors_total{reason="too_many_versions"}"#),
        Some(refused as f64)
    );
    let versions =
        m.0.keys()
            .filter(|k| k.starts_with("driftd_events_total{"))
            .count();
    assert_eq!(versions, MAX_VERSIONS, "one counter per admitted version");
    let m = daemon.wait_metrics(Duration::from_secs(30), |m| {
        m.get(r#"driftd_model_versions{model="m"}"#) == Some(MAX_VERSIONS as f64)
    });
    assert_eq!(
        m.get(r#"driftd_model_versions{model="m"}"#),
        Some(MAX_VERSIONS as f64)
    );

    // Every refused record is in the dead-letter topic with its reason.
    let dead = read_topic(&dlq, refused, Duration::from_secs(120));
    assert_eq!(dead.len(), refused);
    assert!(dead
        .iter()
        .all(|(_, h)| h.get("driftd-reason").map(String::as_str) == Some("too_many_versions")));

    // /metrics: a bounded number of series whatever the producer does (measured:
    // 24 kB here; unbounded, 3,000 versions made it 32.5 MB).
    let (_, body) = http_get(daemon.port, "/metrics").unwrap();
    assert!(
        body.len() < 256 * 1024,
        "/metrics is {} bytes:\n{}",
        body.len(),
        &body[..body.len().min(4000)]
    );
    let rss_after = rss_kb(daemon.child.id());
    eprintln!(
        "cardinality: /metrics {} bytes; RSS {rss_before:?} kB after {HEAD} records, \
         {rss_after:?} kB after {} more",
        body.len(),
        RECORDS
    );
    assert!(daemon.sigterm().success());

    // After a restart the cap still holds: the versions come back from the store.
    let daemon = Daemon::start(&config, "run2.log");
    produce(
        &topic,
        &[(
            "late".into(),
            serde_json::json!({"model": "m", "model_version": "one-more", "ts": now,
                               "features": {}, "prediction": 0.5})
            .to_string()
            .into_bytes(),
        )],
    );
    let m = daemon.wait_metrics(Duration::from_secs(60), |m| {
        m.get(r#"driftd_decode_errors_total{reason="too_many_versions"}"#) == Some(1.0)
    });
    assert_eq!(
        m.get(r#"driftd_decode_errors_total{reason="too_many_versions"}"#),
        Some(1.0),
        "log:\n{}",
        daemon.log_text()
    );
    assert!(daemon.sigterm().success());
}
