//! Helpers for integration tests that run the real `driftd` binary against the real
//! Kafka broker started by `scripts/test.sh` (`DRIFTD_TEST_BROKERS`, default
//! 127.0.0.1:19092). Nothing here fakes a service: when the broker is missing the
//! tests fail and say how to start it.
#![allow(dead_code)]

pub mod hostile;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub fn brokers() -> String {
    std::env::var("DRIFTD_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".to_string())
}

pub fn driftd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_driftd")
}

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

pub fn create_topic(name: &str, partitions: i32) {
    create_topic_on(&brokers(), name, partitions)
}

pub fn create_topic_on(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = rt
        .block_on(admin.create_topics([&topic], &opts))
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Kafka at {} ({e}); run the tests with scripts/test.sh, \
                 which starts the broker",
                brokers
            )
        });
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

/// Produces (key, payload) pairs and waits until all are acknowledged.
pub fn produce(topic: &str, records: &[(String, Vec<u8>)]) {
    produce_to(&brokers(), topic, records)
}

pub fn produce_to(brokers: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "200000")
        // The broker of scripts/kafka.sh takes up to 16 MiB (the hostile corpus has a
        // 10 MB record).
        .set("message.max.bytes", "16000000")
        .create()
        .expect("producer");
    for (key, payload) in records {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// Reads every message of a topic from the beginning: (payload, headers).
pub fn read_topic(
    topic: &str,
    expect_at_least: usize,
    timeout: Duration,
) -> Vec<(Vec<u8>, BTreeMap<String, String>)> {
    read_keyed(topic, expect_at_least, timeout)
        .into_iter()
        .map(|r| (r.payload, r.headers))
        .collect()
}

/// The sum of a consumer group's committed offsets over a topic's partitions (a
/// partition without a commit counts 0). Reads them without joining the group.
pub fn committed_total(group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

pub struct TopicRecord {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// Every record of a topic from the beginning, with keys; stops 3 s after the last
/// record once at least `expect_at_least` arrived, or at the timeout.
pub fn read_keyed(topic: &str, expect_at_least: usize, timeout: Duration) -> Vec<TopicRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for hd in h.iter() {
                        headers.insert(
                            hd.key.to_string(),
                            String::from_utf8_lossy(hd.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                out.push(TopicRecord {
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
                quiet_since = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {
                if out.len() >= expect_at_least && quiet_since.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
        }
    }
    out
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// A Kafka broker of one test's own (scripts/kafka.sh with its own ports and
/// directory), for tests that stop the broker or change its listeners. Stopped and
/// deleted on drop.
pub struct PrivateBroker {
    pub port: u16,
    pub sasl_port: Option<u16>,
    env: Vec<(String, String)>,
}

impl PrivateBroker {
    /// `scram`: a (user, password) that may connect over SASL_PLAINTEXT with
    /// SCRAM-SHA-256 on `sasl_port`.
    pub fn start(scram: Option<(&str, &str)>) -> PrivateBroker {
        let port = free_port();
        let mut env = vec![
            ("KAFKA_PORT".to_string(), port.to_string()),
            ("KAFKA_CONTROLLER_PORT".to_string(), free_port().to_string()),
            ("KAFKA_HEAP".to_string(), "384m".to_string()),
        ];
        let sasl_port = scram.map(|(user, password)| {
            let p = free_port();
            env.push(("KAFKA_SASL_PORT".into(), p.to_string()));
            env.push(("KAFKA_SCRAM_USER".into(), user.into()));
            env.push(("KAFKA_SCRAM_PASSWORD".into(), password.into()));
            p
        });
        let broker = PrivateBroker {
            port,
            sasl_port,
            env,
        };
        broker.run("start");
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker, keeping its data.
    pub fn halt(&self) {
        self.run("halt");
    }

    /// Starts it again on its data.
    pub fn resume(&self) {
        self.run("resume");
    }

    fn run(&self, command: &str) {
        let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh"))
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()
            .expect("scripts/kafka.sh");
        assert!(status.success(), "scripts/kafka.sh {command} failed");
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh"))
            .arg("stop")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status();
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(self.port, "/healthz").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("driftd did not serve /healthz; log:\n{}", self.log_text());
    }

    /// Waits until `/readyz` answers 200 (`want`) or not; whether it did in time.
    pub fn wait_ready(&self, want: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if http_get(self.port, "/readyz").is_some_and(|r| r.0 == 200) == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
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
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.metrics();
            if done(&m) || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn sigterm(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "driftd did not exit within 60 s of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
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
    driftd(&[
        "generate", "--models", model, "--count", &count, "--seed", "5", "--output", file,
    ]);
    let cfg = config.path.to_str().unwrap();
    driftd(&[
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

/// Runs the driftd binary with these arguments; panics with stderr on failure.
pub fn driftd(args: &[&str]) -> String {
    let out = Command::new(driftd_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "driftd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// GET over plain TCP: (status, body). Handles chunked bodies.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], "")
}

/// Any request over plain TCP: (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n{body}").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Some((status, body.to_string()));
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return Some((status, out));
        }
        out.push_str(after.get(..n)?);
        rest = after.get(n + 2..)?;
    }
}

/// Parsed Prometheus text: series (name + labels as written) → value.
#[derive(Debug, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut m = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some((series, value)) = line.rsplit_once(' ') {
                if let Ok(v) = value.parse() {
                    m.insert(series.to_string(), v);
                }
            }
        }
        Metrics(m)
    }

    /// Sum of every series of a metric name.
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn get(&self, series: &str) -> Option<f64> {
        self.0.get(series).copied()
    }
}

/// `driftd state show` for a stopped daemon.
pub fn state_show(config: &Path) -> serde_json::Value {
    state_show_with(config, &[])
}

/// `driftd state show --buckets` for a stopped daemon: counts, offsets and every
/// window bucket.
pub fn state_with_buckets(config: &Path) -> serde_json::Value {
    state_show_with(config, &["--buckets"])
}

fn state_show_with(config: &Path, flags: &[&str]) -> serde_json::Value {
    let out: Output = Command::new(driftd_bin())
        .args(["state", "show"])
        .args(flags)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "state show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (model, version) → count from `state show`.
pub fn state_counts(config: &Path) -> BTreeMap<(String, String), u64> {
    let v = state_show(config);
    let mut out = BTreeMap::new();
    if let Some(models) = v["events"].as_object() {
        for (model, versions) in models {
            for (version, n) in versions.as_object().unwrap() {
                out.insert((model.clone(), version.clone()), n.as_u64().unwrap());
            }
        }
    }
    out
}

/// (model, version) → count from /metrics.
pub fn metric_counts(m: &Metrics) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for (series, v) in &m.0 {
        if let Some(labels) = series.strip_prefix("driftd_events_total{") {
            let mut model = String::new();
            let mut version = String::new();
            for part in labels.trim_end_matches('}').split(',') {
                if let Some((k, val)) = part.split_once('=') {
                    let val = val.trim_matches('"').to_string();
                    match k {
                        "model" => model = val,
                        "version" => version = val,
                        _ => {}
                    }
                }
            }
            out.insert((model, version), *v as u64);
        }
    }
    out
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

/// A real SMTP server (scripts/smtp_sink.py, aiosmtpd) that saves what it accepts;
/// `DRIFTD_SMTP_PYTHON` is a Python with aiosmtpd (scripts/test.sh sets it).
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// One accepted e-mail, decoded by the sink.
#[derive(Debug, Clone)]
pub struct Mail {
    pub received_ms: i64,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub text: String,
    pub html: String,
    pub to: Vec<String>,
}

impl SmtpSink {
    /// Starts the server on `port` (requiring AUTH with driftd/`password`) and waits
    /// until it accepts connections.
    pub fn start(port: u16, dir: &Path, password: &str) -> SmtpSink {
        let python = std::env::var("DRIFTD_SMTP_PYTHON")
            .expect("DRIFTD_SMTP_PYTHON is not set: run scripts/test.sh, which installs aiosmtpd");
        let child = Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args(["--user", "driftd", "--password", password, "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "SMTP sink did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every e-mail received in `dir`, oldest first.
    pub fn mails(dir: &Path) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "json"));
        files.sort();
        files
            .iter()
            .map(|p| {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Mail {
                    received_ms: v["received_ms"].as_i64().unwrap(),
                    subject: s("subject"),
                    message_id: s("message_id"),
                    content_type: s("content_type"),
                    text: s("text"),
                    html: s("html"),
                    to: v["to"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Waits until `dir` holds at least `n` e-mails.
    pub fn wait_mails(dir: &Path, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = SmtpSink::mails(dir);
            if mails.len() >= n || Instant::now() > deadline {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
