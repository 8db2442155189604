//! The driftd process under test: its configuration, starting and stopping it, and
//! reading its log and metrics.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{brokers, driftd, driftd_bin, free_port, http_get, wait_for, wait_until, Metrics};

/// A config for one test: its own topics, group, store and port.
pub struct TestConfig {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub port: u16,
}

pub fn write_config(topic: &str, dead_letter: &str, group: &str) -> TestConfig {
    write_config_with(topic, dead_letter, group, "")
}

/// As [`write_config`], with more TOML appended (e.g. a `[windows]` table).
pub fn write_config_with(topic: &str, dead_letter: &str, group: &str, extra: &str) -> TestConfig {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("driftd.toml");
    let text = format!(
        r#"
[kafka]
brokers = ["{brokers}"]
group_id = "{group}"
dead_letter_topic = "{dead_letter}"

[kafka.client]
# A killed member holds its partitions until its session times out; the broker's
# minimum keeps restarts in these tests quick.
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 1000

[storage]
path = "{store}"
checkpoint_interval = "1s"

[http]
bind = "127.0.0.1:{port}"

[[source]]
topic = "{topic}"
role = "predictions"

{extra}
"#,
        brokers = brokers(),
        store = dir.path().join("store").display(),
    );
    std::fs::write(&path, text).unwrap();
    TestConfig { dir, path, port }
}

impl TestConfig {
    /// Points the daemon at other brokers (a broker of the test's own).
    pub fn set_brokers(&self, brokers: &str) {
        let text = std::fs::read_to_string(&self.path).unwrap().replacen(
            &format!("brokers = [\"{}\"]", self::brokers()),
            &format!("brokers = [\"{brokers}\"]"),
            1,
        );
        std::fs::write(&self.path, text).unwrap();
    }
}

pub struct Daemon {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Daemon {
    pub fn start(config: &TestConfig, log_name: &str) -> Daemon {
        Daemon::start_with_env(config, log_name, &[])
    }

    /// As [`Daemon::start`], with more environment variables (`RUST_LOG` included).
    pub fn start_with_env(config: &TestConfig, log_name: &str, env: &[(&str, &str)]) -> Daemon {
        let log = config.dir.path().join(log_name);
        let child = Command::new(driftd_bin())
            .args(["run", "--config"])
            .arg(&config.path)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn driftd");
        let d = Daemon {
            child,
            port: config.port,
            log,
        };
        d.wait_http();
        d
    }

    fn wait_http(&self) {
        let up = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            http_get(self.port, "/healthz").is_some()
        });
        assert!(
            up,
            "driftd did not serve /healthz; log:\n{}",
            self.log_text()
        );
    }

    /// Waits until `/readyz` answers 200 (`want`) or not; whether it did in time.
    pub fn wait_ready(&self, want: bool, timeout: Duration) -> bool {
        wait_until(timeout, Duration::from_millis(250), || {
            http_get(self.port, "/readyz").is_some_and(|r| r.0 == 200) == want
        })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn metrics(&self) -> Metrics {
        Metrics::parse(
            &http_get(self.port, "/metrics")
                .map(|r| r.1)
                .unwrap_or_default(),
        )
    }

    /// Waits until `driftd_events_total` reaches `want`, asserts it is exactly `want`
    /// (more is a double count), and that it is still `want` a few seconds later
    /// (nothing counted late). The log is in the message of a failure.
    pub fn assert_counted_exactly(&self, want: u64, timeout: Duration) -> Metrics {
        let want = want as f64;
        let m = self.wait_metrics(timeout, |m| m.sum("driftd_events_total") >= want);
        assert_eq!(
            m.sum("driftd_events_total"),
            want,
            "driftd did not count exactly the produced events; log:\n{}",
            self.log_text()
        );
        std::thread::sleep(Duration::from_secs(3));
        let m = self.metrics();
        assert_eq!(m.sum("driftd_events_total"), want, "counted more later");
        m
    }

    /// Polls /metrics until `done` holds or the timeout passes.
    pub fn wait_metrics(&self, timeout: Duration, done: impl Fn(&Metrics) -> bool) -> Metrics {
        let mut last = None;
        let m = wait_for(timeout, Duration::from_millis(200), || {
            let m = self.metrics();
            if done(&m) {
                Some(m)
            } else {
                last = Some(m);
                None
            }
        });
        m.or(last).unwrap_or_else(|| self.metrics())
    }

    pub fn sigterm(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let child = &mut self.child;
        let exited = wait_for(Duration::from_secs(60), Duration::from_millis(50), || {
            child.try_wait().unwrap()
        });
        match exited {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                panic!(
                    "driftd did not exit within 60 s of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
        }
    }

    pub fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Imports, as `model`'s reference profile, `count` undrifted records of the synthetic
/// stream (`driftd generate --output`, seed 5).
pub fn import_synthetic_reference(config: &TestConfig, model: &str, count: usize) {
    let reference = config.dir.path().join(format!("{model}-reference.jsonl"));
    let file = reference.to_str().unwrap();
    let count = count.to_string();
    driftd([
        "generate", "--models", model, "--count", &count, "--seed", "5", "--output", file,
    ]);
    let cfg = config.path.to_str().unwrap();
    driftd([
        "reference",
        "import",
        "--model",
        model,
        "--file",
        file,
        "--config",
        cfg,
    ]);
}
