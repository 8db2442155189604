//! The Kafka broker goes away for 30 s in the middle of a stream (a broker of this
//! test's own, halted and resumed on its data): driftd keeps running, reports not
//! ready while it cannot reach the broker, resumes by itself, and counts every event
//! exactly once.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_30_second_broker_outage_loses_nothing_and_heals_by_itself() {
    let broker = PrivateBroker::start(None);
    let brokers = broker.brokers();
    let topic = unique("outage");
    create_topic_on(&brokers, &topic, 3);
    let (records, expected) = valid_records(60_000, 29);
    produce_to(&brokers, &topic, &records[..30_000]);

    let config = write_config(&topic, &unique("dlq"), &unique("group"));
    config.set_brokers(&brokers);
    let mut daemon = Daemon::start(&config, "run.log");
    daemon.wait_metrics(Duration::from_secs(120), |m| {
        m.sum("driftd_events_total") >= 10_000.0
    });
    assert!(daemon.wait_ready(true, Duration::from_secs(30)));

    let down_at = Instant::now();
    broker.halt();
    assert!(
        daemon.wait_ready(false, Duration::from_secs(30)),
        "/readyz must turn false while no broker answers; log:\n{}",
        daemon.log_text()
    );
    let (_, body) = http_get(daemon.port, "/readyz").unwrap();
    assert!(body.contains("broker"), "says why: {body}");
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "driftd keeps running through the outage; log:\n{}",
        daemon.log_text()
    );
    broker.resume();
    assert!(
        daemon.wait_ready(true, Duration::from_secs(90)),
        "/readyz must turn true again by itself; log:\n{}",
        daemon.log_text()
    );

    // The rest of the stream, after the outage.
    produce_to(&brokers, &topic, &records[30_000..]);
    daemon.assert_counted_exactly(60_000, Duration::from_secs(180));
    assert!(daemon.sigterm().success());
    assert_eq!(state_counts(&config.path), expected);
}
