//! SASL/SCRAM-SHA-256 over SASL_PLAINTEXT against a broker of this test's own (its
//! credentials added when the KRaft storage is formatted): driftd authenticates with a
//! password read from the environment, never prints it, and a wrong password keeps it
//! unready with a clear log line rather than consuming anything.

mod common;

use std::time::Duration;

use common::*;

const USER: &str = "driftd";
const PASSWORD: &str = "scram-pw-7f3a9c";
const TOKEN: &str = "api-token-51d2e8";

fn sasl_config(broker: &PrivateBroker, topic: &str, token_file: &std::path::Path) -> TestConfig {
    let extra = format!(
        "[kafka.secrets]\n\"sasl.password\" = {{ env = \"DRIFTD_KAFKA_PASSWORD\" }}\n\n\
         [http.token]\nfile = \"{}\"\n",
        token_file.display()
    );
    let config = write_config_with(topic, &unique("dlq"), &unique("group"), &extra);
    config.set_brokers(&format!("127.0.0.1:{}", broker.sasl_port.unwrap()));
    let text = std::fs::read_to_string(&config.path).unwrap().replace(
        "[kafka.client]\n",
        &format!(
            "[kafka.client]\n\"security.protocol\" = \"sasl_plaintext\"\n\
             \"sasl.mechanism\" = \"SCRAM-SHA-256\"\n\"sasl.username\" = \"{USER}\"\n"
        ),
    );
    std::fs::write(&config.path, text).unwrap();
    config
}

#[test]
fn scram_over_sasl_plaintext_with_secrets_from_env_and_file() {
    let broker = PrivateBroker::start(Some((USER, PASSWORD)));
    let topic = unique("sasl");
    // Topics and records go in over the broker's plaintext listener.
    create_topic_on(&broker.brokers(), &topic, 3);
    let (records, expected) = valid_records(5_000, 31);
    produce_to(&broker.brokers(), &topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    // The right password: everything is counted.
    let config = sasl_config(&broker, &topic, &token_file);
    let daemon = Daemon::start_with_env(
        &config,
        "good.log",
        &[("DRIFTD_KAFKA_PASSWORD", PASSWORD), ("RUST_LOG", "debug")],
    );
    daemon.assert_counted_exactly(5_000, Duration::from_secs(120));
    assert!(
        daemon.wait_ready(true, Duration::from_secs(20)),
        "{:?}",
        http_get(daemon.port, "/readyz")
    );
    // The token from the file guards the mutating endpoints.
    let reload = |token: &str| {
        http_request(
            daemon.port,
            "POST",
            "/-/reload",
            &[("Authorization", &format!("Bearer {token}"))],
            "",
        )
        .map(|r| r.0)
    };
    assert_eq!(reload("wrong"), Some(401));
    assert_eq!(reload(TOKEN), Some(200));
    // Neither secret appears in the API or the (debug) log.
    let mut seen = daemon.log_text();
    for path in [
        "/metrics",
        "/api/v1/models",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/readyz",
    ] {
        seen.push_str(&http_get(daemon.port, path).map(|r| r.1).unwrap_or_default());
    }
    assert!(!seen.contains(PASSWORD), "the SASL password leaked");
    assert!(!seen.contains(TOKEN), "the API token leaked");
    assert!(daemon.sigterm().success());
    assert_eq!(state_counts(&config.path), expected);

    // A wrong password: not ready, says why, counts nothing.
    let config = sasl_config(&broker, &topic, &token_file);
    let daemon = Daemon::start_with_env(
        &config,
        "bad.log",
        &[("DRIFTD_KAFKA_PASSWORD", "not-the-password")],
    );
    std::thread::sleep(Duration::from_secs(15));
    assert_ne!(http_get(daemon.port, "/readyz").map(|r| r.0), Some(200));
    assert_eq!(daemon.metrics().sum("driftd_events_total"), 0.0);
    let log = daemon.log_text();
    assert!(
        log.contains("Authentication failed") || log.contains("SASL authentication error"),
        "the log says authentication failed:\n{log}"
    );
    assert!(!log.contains("not-the-password"));
    drop(daemon);

    // A password missing from the environment: a clear error at start, exit 1.
    let out = std::process::Command::new(driftd_bin())
        .args(["run", "--config"])
        .arg(&config.path)
        .env_remove("DRIFTD_KAFKA_PASSWORD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sasl.password") && stderr.contains("DRIFTD_KAFKA_PASSWORD"),
        "names the key and the variable:\n{stderr}"
    );
}
