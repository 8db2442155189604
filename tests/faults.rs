//! Fault injection against the real broker: crashes at random points, a consumer
//! group rebalance, and a store that cannot be written. Each test checks that no event
//! is lost or counted twice, comparing with what was produced or with an uninterrupted
//! run. (The broker outage has its own broker: tests/broker_outage.rs.)

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

fn total(counts: &BTreeMap<(String, String), u64>) -> u64 {
    counts.values().sum()
}

/// Waits until the daemon counted `want` events, then two more checkpoints, and
/// stops it; the stored counts must be exactly `want`.
fn drain_and_stop(daemon: Daemon, config: &TestConfig, want: u64) {
    daemon.assert_counted_exactly(want, DRAIN_TIMEOUT);
    assert!(daemon.sigterm().success());
    assert_eq!(total(&state_counts(&config.path)), want);
}

#[test]
fn ten_sigkills_during_a_stream_end_as_an_uninterrupted_run() {
    const N: usize = 200_000;
    let topic = unique("kill10");
    create_topic(&topic, 6);
    let (records, expected) = valid_records(N, 13);
    produce(&topic, &records);

    // The uninterrupted run, in its own group and store.
    let calm = write_config(&topic, &unique("calm-dlq"), &unique("calm"));
    let daemon = Daemon::start(&calm, "calm.log");
    drain_and_stop(daemon, &calm, N as u64);

    let config = write_config(&topic, &unique("kill-dlq"), &unique("group"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed: {seed}");
    let mut rng = driftd::base::rng::SplitMix::new(seed);
    // Ten kill points spread over the stream: after a random number of counted events,
    // plus a random delay (so that kills land inside batches and checkpoints too).
    let mut targets: Vec<u64> = (0..10)
        .map(|_| rng.next_u64() % (N as u64 * 9 / 10))
        .collect();
    targets.sort_unstable();
    let mut last_state = 0;
    for (round, target) in targets.iter().enumerate() {
        let daemon = Daemon::start(&config, &format!("run{round}.log"));
        daemon.wait_metrics(DRAIN_TIMEOUT, |m| {
            m.sum("driftd_events_total") >= *target as f64
        });
        std::thread::sleep(Duration::from_millis(rng.next_u64() % 700));
        daemon.sigkill();
        let now = total(&state_counts(&config.path));
        eprintln!("kill {round}: after {target} counted, {now} checkpointed");
        assert!(now >= last_state, "checkpointed state never goes back");
        assert!(now <= N as u64, "never more than produced: {now}");
        last_state = now;
    }
    let daemon = Daemon::start(&config, "final.log");
    drain_and_stop(daemon, &config, N as u64);
    assert_eq!(state_counts(&config.path), expected);

    // Counts, offsets and every window bucket as after the uninterrupted run.
    let killed = state_with_buckets(&config.path);
    let reference = state_with_buckets(&calm.path);
    assert!(
        reference["buckets"]
            .as_array()
            .is_some_and(|b| !b.is_empty()),
        "the runs have buckets to compare"
    );
    assert_json_close(&killed, &reference, "state");
}

#[test]
fn a_member_joining_and_leaving_counts_every_event_once() {
    let topic = unique("rebalance");
    create_topic(&topic, 6);
    let (records, _) = valid_records(90_000, 17);
    let group = unique("group");
    let a_config = write_config(&topic, &unique("dlq"), &group);
    let b_config = write_config(&topic, &unique("dlq"), &group);

    // A alone.
    produce(&topic, &records[..30_000]);
    let a = Daemon::start(&a_config, "a.log");
    a.wait_metrics(DRAIN_TIMEOUT, |m| m.sum("driftd_events_total") >= 30_000.0);

    // B joins: the six partitions are shared, then the second third is produced.
    let b = Daemon::start(&b_config, "b.log");
    let shared = |d: &Daemon| {
        d.wait_metrics(Duration::from_secs(60), |m| {
            m.get("driftd_assigned_partitions") == Some(3.0)
        })
        .get("driftd_assigned_partitions")
    };
    assert_eq!(shared(&b), Some(3.0), "B log:\n{}", b.log_text());
    assert_eq!(shared(&a), Some(3.0), "A log:\n{}", a.log_text());
    produce(&topic, &records[30_000..60_000]);
    let (mut ca, mut cb) = (0.0, 0.0);
    wait_until(DRAIN_TIMEOUT, Duration::from_millis(200), || {
        ca = a.metrics().sum("driftd_events_total");
        cb = b.metrics().sum("driftd_events_total");
        ca + cb >= 60_000.0
    });
    assert_eq!(ca + cb, 60_000.0, "both members together");
    assert!(cb > 0.0, "B took a share");

    // B leaves; A takes its partitions back, then the last third is produced.
    assert!(b.sigterm().success());
    let b_counted = total(&state_counts(&b_config.path));
    assert_eq!(b_counted as f64, cb, "B stored what it counted");
    a.wait_metrics(Duration::from_secs(60), |m| {
        m.get("driftd_assigned_partitions") == Some(6.0)
    });
    // A's checkpoints before any new record must not move the group's offsets of
    // B's partitions back to where A had left them.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        committed_total(&group, &topic, 6),
        60_000,
        "the group's offsets"
    );
    produce(&topic, &records[60_000..]);
    drain_and_stop(a, &a_config, 90_000 - b_counted);
}

/// A store that cannot be created: a clear error naming the path, exit code 1, and
/// nothing consumed (the group's offsets stay where they were).
#[test]
fn an_unwritable_store_stops_with_a_clear_error() {
    let topic = unique("ro");
    create_topic(&topic, 3);
    let (records, _) = valid_records(5_000, 19);
    produce(&topic, &records);
    let group = unique("group");
    let config = write_config(&topic, &unique("dlq"), &group);
    // An immutable directory: not even root may create the store in it.
    let locked = config.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let text = std::fs::read_to_string(&config.path).unwrap().replace(
        &format!("path = \"{}\"", config.dir.path().join("store").display()),
        &format!("path = \"{}\"", locked.join("store").display()),
    );
    std::fs::write(&config.path, text).unwrap();
    let chattr = |flag: &str| {
        let ok = Command::new("chattr").arg(flag).arg(&locked).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "chattr {flag} (needs root and ext4/xfs/btrfs)"
        );
    };
    chattr("+i");
    let out = Command::new(driftd_bin())
        .args(["run", "--config"])
        .arg(&config.path)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    chattr("-i");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&locked.join("store").display().to_string())
            && stderr.to_lowercase().contains("permission denied")
                | stderr.to_lowercase().contains("not permitted"),
        "the error names the path and the cause:\n{stderr}"
    );

    // Nothing was consumed: a daemon with a writable store counts every record.
    let fixed = std::fs::read_to_string(&config.path).unwrap().replace(
        &locked.join("store").display().to_string(),
        &config.dir.path().join("store").display().to_string(),
    );
    std::fs::write(&config.path, fixed).unwrap();
    let daemon = Daemon::start(&config, "after.log");
    drain_and_stop(daemon, &config, 5_000);
}

/// The disk fills up mid-stream (a file size limit on the daemon): the checkpoint
/// fails, the daemon says so and exits non-zero, and a restart with space counts
/// every event exactly once.
#[test]
fn a_full_disk_stops_the_daemon_and_loses_nothing() {
    let topic = unique("full");
    create_topic(&topic, 3);
    const N: usize = 100_000;
    // Event times spread over two hours: a few hundred buckets, so the store keeps
    // growing while the stream is read.
    let start_ms = (now_ms() / 60_000 - 125) * 60_000;
    let (records, expected) = valid_records(N, 23);
    let records: Records = records
        .into_iter()
        .enumerate()
        .map(|(i, (k, p))| {
            let mut v: serde_json::Value = serde_json::from_slice(&p).unwrap();
            v["ts"] = (start_ms + i as i64 * 72).into();
            (k, v.to_string().into_bytes())
        })
        .collect();
    produce(&topic, &records);
    let config = write_config(&topic, &unique("dlq"), &unique("group"));
    let log = config.dir.path().join("full.log");
    // SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of killing.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {FILE_LIMIT_KB}; exec \"$0\" run --config \"$1\""
        ))
        .arg(driftd_bin())
        .arg(&config.path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let exited = wait_for(Duration::from_secs(180), Duration::from_millis(200), || {
        child.try_wait().unwrap()
    });
    let Some(status) = exited else {
        let _ = child.kill();
        panic!(
            "driftd did not stop when the disk filled; log:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
    };
    let text = std::fs::read_to_string(&log).unwrap();
    eprintln!(
        "{status}; last lines:\n{}",
        text.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    assert!(!status.success(), "exits non-zero; log:\n{text}");
    let store = config.dir.path().join("store").display().to_string();
    let why = text
        .lines()
        .find(|l| l.contains("File too large") || l.to_lowercase().contains("no space"))
        .unwrap_or_else(|| panic!("says why; log:\n{text}"));
    assert!(why.contains(&store), "names the store {store}: {why}");
    let saved = total(&state_counts(&config.path));
    assert!(saved < N as u64, "stopped before the end: {saved}");

    let daemon = Daemon::start(&config, "after.log");
    drain_and_stop(daemon, &config, N as u64);
    assert_eq!(state_counts(&config.path), expected);
}

/// Per file, in KiB: more than an empty store needs, less than the stream's buckets.
const FILE_LIMIT_KB: u64 = 64;
