//! Running under systemd: the readiness protocol (`Type=notify`) on a real notify
//! socket, and log records that carry their level into the journal.

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Datagrams received on `sock` until one contains `want` (or the timeout).
fn receive_until(sock: &UnixDatagram, want: &str) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = text.lines().any(|l| l == want);
        got.push(text);
        if done {
            break;
        }
    }
    got
}

#[test]
fn ready_once_partitions_are_assigned_and_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let topic = unique("notify");
    create_topic(&topic, 2);
    let config = write_config(&topic, &unique("notify-dlq"), &unique("group"));
    let daemon = Daemon::start_with_env(
        &config,
        "run.log",
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );

    let got = receive_until(&sock, "READY=1");
    assert!(
        got.last()
            .is_some_and(|m| m.lines().any(|l| l == "READY=1")),
        "no READY=1: {got:?}\n{}",
        daemon.log_text()
    );
    assert!(got[0].contains("STATUS=waiting for partitions"), "{got:?}");
    // Ready means consuming: the partitions are assigned by then.
    let m = daemon.wait_metrics(Duration::from_secs(2), |m| {
        m.sum("driftd_assigned_partitions") >= 1.0
    });
    assert!(m.sum("driftd_assigned_partitions") >= 1.0);
    assert!(daemon.sigterm().success());
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let got = receive_until(&sock, "STOPPING=1");
    assert!(
        got.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{got:?}"
    );
}

/// Runs a replay with stderr in a file; `journal`: with `JOURNAL_STREAM` naming that
/// file, as systemd does for the journal's stream. The log text.
fn replay_log(journal: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftd.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[[source]]\ntopic = \"p\"\nrole = \"predictions\"\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"model\":\"m\",\"id\":\"1\"}\n{broken\n").unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let mut cmd = Command::new(driftd_bin());
    cmd.args(["run", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .env("RUST_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(log);
    if journal {
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    assert!(cmd.status().unwrap().success());
    std::fs::read_to_string(&log_path).unwrap()
}

#[test]
fn records_carry_their_syslog_priority_when_stderr_is_the_journal() {
    let text = replay_log(true);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.starts_with("<6>") || l.starts_with("<4>"), "{l}\n{text}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<4>") && l.contains("WARN")),
        "the rejected line is a warning: {text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<6>") && l.contains("INFO")),
        "{text}"
    );
    // Another stderr (a terminal, a file, a pipe) gets no prefix.
    let plain = replay_log(false);
    assert!(!plain.contains("<6>") && plain.contains("INFO"), "{plain}");
}
