//! Ingestion against the real broker: exact counts, dead letters, and exactly-once
//! state across a SIGTERM restart. (SIGKILL at random points: tests/faults.rs.)

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(240);

fn total(counts: &BTreeMap<(String, String), u64>) -> u64 {
    counts.values().sum()
}

/// After the daemon reports `expected` events, waits two more checkpoint intervals and
/// checks nothing more arrives (a double count would show up here).
fn assert_drained_exactly(daemon: &Daemon, expected: &BTreeMap<(String, String), u64>) {
    let m = daemon.assert_counted_exactly(total(expected), DRAIN_TIMEOUT);
    assert_eq!(&metric_counts(&m), expected, "per-model counts on /metrics");
}

#[test]
fn counts_exactly_and_dead_letters_malformed_records() {
    let topic = unique("ingest");
    let dlq = unique("ingest-dlq");
    create_topic(&topic, 3);
    create_topic(&dlq, 1);
    let (mut records, expected) = valid_records(100_000, 7);
    let bad = malformed_records(200);
    // Interleave the 1,000 malformed records through the stream.
    for (i, (k, p, _)) in bad.iter().enumerate() {
        records.insert(i * 100, (k.clone(), p.clone()));
    }
    produce(&topic, &records);

    let config = write_config(&topic, &dlq, &unique("group"));
    let daemon = Daemon::start(&config, "run.log");
    assert_drained_exactly(&daemon, &expected);

    let m = daemon.metrics();
    assert_eq!(m.sum("driftd_decode_errors_total"), 1000.0);
    for reason in [
        "invalid_json",
        "invalid_utf8",
        "wrong_type",
        "missing_field",
        "empty",
    ] {
        assert_eq!(
            m.get(&format!(
                "driftd_decode_errors_total{{reason=\"{reason}\"}}"
            )),
            Some(200.0),
            "reason {reason}"
        );
    }
    assert_eq!(m.get("driftd_assigned_partitions"), Some(3.0));
    let ready = daemon.wait_metrics(Duration::from_secs(10), |_| {
        http_get(daemon.port, "/readyz").is_some_and(|r| r.0 == 200)
    });
    assert!(ready.get("driftd_store_size_bytes").unwrap_or(0.0) > 0.0);
    assert!(
        ready
            .get("driftd_checkpoint_duration_seconds_count")
            .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        m.0.keys()
            .any(|k| k.starts_with("driftd_consumer_lag_messages{")),
        "lag per partition is exported"
    );

    let status = daemon.sigterm();
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
    assert_eq!(state_counts(&config.path), expected, "counts in sled");
    let offsets = state_show(&config.path)["offsets"]
        .as_array()
        .unwrap()
        .clone();
    let consumed: i64 = offsets
        .iter()
        .map(|o| o["next_offset"].as_i64().unwrap())
        .sum();
    assert_eq!(consumed, 101_000, "offsets in sled cover every record");

    let dead = read_topic(&dlq, 1000, Duration::from_secs(60));
    assert_eq!(
        dead.len(),
        1000,
        "dead-letter topic holds every malformed record"
    );
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    let wanted: BTreeMap<&[u8], &str> = bad.iter().map(|(_, p, r)| (p.as_slice(), *r)).collect();
    for (payload, headers) in &dead {
        let reason = headers.get("driftd-reason").expect("reason header");
        assert!(!headers["driftd-error"].is_empty());
        assert_eq!(headers["driftd-source-topic"], topic);
        assert_eq!(
            wanted.get(payload.as_slice()),
            Some(&reason.as_str()),
            "original bytes kept"
        );
        *by_reason.entry(wanted[payload.as_slice()]).or_default() += 1;
    }
    assert!(by_reason.values().all(|&n| n == 200), "{by_reason:?}");
}

#[test]
fn sigterm_mid_stream_then_restart_is_exact() {
    let topic = unique("term");
    let dlq = unique("term-dlq");
    create_topic(&topic, 3);
    let (records, expected) = valid_records(100_000, 11);
    let (first, second) = records.split_at(50_000);
    produce(&topic, first);

    let config = write_config(&topic, &dlq, &unique("group"));
    let daemon = Daemon::start(&config, "run1.log");
    // Stop while it is consuming.
    daemon.wait_metrics(DRAIN_TIMEOUT, |m| m.sum("driftd_events_total") >= 5_000.0);
    let status = daemon.sigterm();
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
    let after_first = total(&state_counts(&config.path));
    assert!((5_000..=50_000).contains(&after_first), "{after_first}");

    produce(&topic, second);
    let daemon = Daemon::start(&config, "run2.log");
    assert_drained_exactly(&daemon, &expected);
    assert!(daemon.sigterm().success());
    assert_eq!(state_counts(&config.path), expected);
}
