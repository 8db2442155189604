//! SIGHUP reloads the configuration of a running daemon; a broken file keeps the
//! running configuration and says so (log, metric), and the daemon stays up.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn windows(daemon: &Daemon) -> Value {
    let (status, body) = http_get(daemon.port, "/api/v1/models").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["windows"].clone()
}

fn sighup(daemon: &Daemon) {
    let pid = daemon.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

#[test]
fn sighup_reloads_and_a_broken_file_keeps_the_running_config() {
    let topic = unique("reload");
    create_topic(&topic, 1);
    let config = write_config_with(
        &topic,
        &unique("dlq"),
        &unique("group"),
        "[windows]\nwindows = [\"5m\"]\n",
    );
    let daemon = Daemon::start(&config, "run.log");
    assert_eq!(windows(&daemon), serde_json::json!(["5m"]));

    let text = std::fs::read_to_string(&config.path).unwrap();
    std::fs::write(
        &config.path,
        text.replace("windows = [\"5m\"]", "windows = [\"5m\", \"1h\"]"),
    )
    .unwrap();
    sighup(&daemon);
    // A scrape reads metric families one after the other (the gauge sorts before the
    // counter), so one scrape can see the counter after a reload and the gauge before
    // it: wait for both, then assert both.
    let m = daemon.wait_metrics(Duration::from_secs(30), |m| {
        m.get("driftd_config_reloads_total{result=\"success\"}") == Some(1.0)
            && m.get("driftd_config_last_reload_successful") == Some(1.0)
    });
    assert_eq!(
        m.get("driftd_config_reloads_total{result=\"success\"}"),
        Some(1.0)
    );
    assert_eq!(m.get("driftd_config_last_reload_successful"), Some(1.0));
    assert_eq!(windows(&daemon), serde_json::json!(["5m", "1h"]));

    let good = std::fs::read_to_string(&config.path).unwrap();
    std::fs::write(
        &config.path,
        format!("{good}\n[report]\npsi_treshold = 0.3\n"),
    )
    .unwrap();
    sighup(&daemon);
    let m = daemon.wait_metrics(Duration::from_secs(30), |m| {
        m.get("driftd_config_reloads_total{result=\"failure\"}") == Some(1.0)
            && m.get("driftd_config_last_reload_successful") == Some(0.0)
    });
    assert_eq!(
        m.get("driftd_config_reloads_total{result=\"failure\"}"),
        Some(1.0)
    );
    assert_eq!(m.get("driftd_config_last_reload_successful"), Some(0.0));
    assert_eq!(
        windows(&daemon),
        serde_json::json!(["5m", "1h"]),
        "the running config stays"
    );
    assert_eq!(http_get(daemon.port, "/healthz").map(|r| r.0), Some(200));
    let log = daemon.log_text();
    assert!(
        log.contains("psi_treshold") && log.contains("keeping the running one"),
        "{log}"
    );
    assert!(daemon.sigterm().success());
}
