//! Hostile input against the real broker: every record of the corpus in
//! `common/hostile.rs` lands in the dead-letter topic with the expected reason and its
//! bytes, valid records around them are counted exactly, and the daemon stays ready.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::hostile::corpus;
use common::*;

fn churn_only(records: Records) -> Records {
    records
        .into_iter()
        .filter(|(_, p)| {
            serde_json::from_slice::<serde_json::Value>(p).unwrap()["model"] == "churn"
        })
        .collect()
}

#[test]
fn every_hostile_record_is_dead_lettered_with_its_reason() {
    let topic = unique("hostile");
    let dlq = unique("hostile-dlq");
    create_topic(&topic, 3);
    create_topic(&dlq, 1);
    let hostile = corpus("churn", now_ms());
    assert!(hostile.len() >= 50, "{} records", hostile.len());

    // Valid records of the one configured model, with the corpus spread through them.
    let valid = churn_only(valid_records(3_000, 21).0);
    let mut records = valid.clone();
    for (i, h) in hostile.iter().enumerate() {
        let at = (i * records.len() / hostile.len()).min(records.len());
        records.insert(at, (format!("hostile-{i}"), h.payload.clone()));
    }
    produce(&topic, &records);

    let config = write_config_with(&topic, &dlq, &unique("group"), "[models.churn]\n");
    let daemon = Daemon::start(&config, "run.log");
    let want = valid.len() as f64;
    let m = daemon.wait_metrics(Duration::from_secs(180), |m| {
        m.sum("driftd_events_total") >= want
            && m.sum("driftd_decode_errors_total") >= hostile.len() as f64
    });
    assert_eq!(m.sum("driftd_events_total"), want, "{}", daemon.log_text());
    assert_eq!(
        m.sum("driftd_decode_errors_total"),
        hostile.len() as f64,
        "{}",
        daemon.log_text()
    );
    let mut per_reason: BTreeMap<&str, f64> = BTreeMap::new();
    for h in &hostile {
        *per_reason.entry(h.reason).or_default() += 1.0;
    }
    for (reason, n) in &per_reason {
        assert_eq!(
            m.get(&format!(
                "driftd_decode_errors_total{{reason=\"{reason}\"}}"
            )),
            Some(*n),
            "reason {reason}"
        );
    }

    // Each record in the dead-letter topic, with its reason, a readable error and its
    // bytes (cut at 900 KiB, which a header says).
    let dead = read_keyed(&dlq, hostile.len(), Duration::from_secs(60));
    assert_eq!(dead.len(), hostile.len());
    for d in &dead {
        let key = String::from_utf8(d.key.clone().expect("key kept")).unwrap();
        let i: usize = key.strip_prefix("hostile-").unwrap().parse().unwrap();
        let h = &hostile[i];
        assert_eq!(
            d.headers.get("driftd-reason").map(String::as_str),
            Some(h.reason),
            "{}: {:?}",
            h.name,
            d.headers.get("driftd-error")
        );
        let error = &d.headers["driftd-error"];
        assert!(
            !error.is_empty() && error.len() < 1024,
            "{}: error is short and says something: {error:?}",
            h.name
        );
        match d.headers.get("driftd-truncated-from") {
            Some(n) => {
                assert_eq!(n.parse::<usize>().unwrap(), h.payload.len(), "{}", h.name);
                assert!(h.payload.starts_with(&d.payload), "{}", h.name);
            }
            None => assert_eq!(d.payload, h.payload, "{}: bytes kept", h.name),
        }
    }

    // Still healthy: ready, and the next records are counted.
    assert_eq!(http_get(daemon.port, "/readyz").map(|r| r.0), Some(200));
    let more = churn_only(valid_records(500, 22).0);
    produce(&topic, &more);
    let want = want + more.len() as f64;
    daemon.assert_counted_exactly(want as u64, Duration::from_secs(60));
    assert!(daemon.sigterm().success());
}
