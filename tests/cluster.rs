//! Cluster mode on the real broker (`[cluster] enabled`): three daemons in one consumer
//! group give the windows one daemon gives — 12 input partitions, 5 models, labels on —
//! through a SIGKILL of a model's owner mid-stream and a restart of another instance
//! whose store directory was deleted (its state comes back from the changelog topic).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use driftd::base::partition::partition_of;
use driftd::base::rng::SplitMix;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{json, Value};

const PARTITIONS: i32 = 12;

/// Five model names whose partitions fall in each third of 0..12, so that whatever
/// the members' order the range assignor gives each of three members at least one.
fn models() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut thirds = [0usize; 3];
    for i in 0.. {
        let name = format!("model-{i}");
        let third = (partition_of(name.as_bytes(), PARTITIONS) / 4) as usize;
        if thirds[third] < 2
            && !out.iter().any(|m| {
                partition_of(m.as_bytes(), PARTITIONS) == partition_of(name.as_bytes(), PARTITIONS)
            })
        {
            thirds[third] += 1;
            out.push(name);
        }
        if out.len() == 5 {
            return out;
        }
    }
    unreachable!()
}

/// `n` predictions per model (seq from `from`), and a label for two in three of them.
fn traffic(models: &[String], from: u64, n: u64, seed: u64) -> (Records, Records) {
    let mut rng = SplitMix::new(seed);
    let (mut predictions, mut labels) = (Vec::new(), Vec::new());
    for seq in from..from + n {
        for model in models {
            let drifted = seq % 3 == 0 && model.ends_with('1');
            let (record, score) = driftd::generate::synthetic_record(&mut rng, model, seq, drifted);
            predictions.push((model.clone(), record.into_bytes()));
            if seq % 3 != 2 {
                let label = json!({
                    "model": model, "id": format!("{model}-{seq}"), "ts": now_ms(),
                    "label": u8::from(rng.uniform() < score),
                });
                labels.push((model.clone(), label.to_string().into_bytes()));
            }
        }
    }
    (predictions, labels)
}

struct Topics {
    predictions: String,
    labels: String,
}

fn config(topics: &Topics, group: &str, cluster: bool, models: &[String]) -> TestConfig {
    let extra = format!(
        r#"
[[source]]
topic = "{labels}"
role = "labels"

[windows]
windows = ["1h"]
tick = "1s"

[cluster]
enabled = {cluster}
"#,
        labels = topics.labels,
    );
    let config = write_config_with(&topics.predictions, &unique("dlq"), group, &extra);
    import_references(&config, models);
    config
}

/// The same reference file for every model on every instance: a profile's id is its
/// file's checksum, and a bucket counted under one id is read only under the same.
fn import_references(config: &TestConfig, models: &[String]) {
    let file = reference_file();
    for m in models {
        driftd([
            "reference",
            "import",
            "--model",
            m,
            "--file",
            file,
            "--config",
            config.path.to_str().unwrap(),
        ]);
    }
}

fn reference_file() -> &'static str {
    static FILE: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    &FILE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("reference.jsonl");
            let path = path.to_str().unwrap().to_string();
            driftd([
                "generate",
                "--models",
                "reference",
                "--count",
                "2000",
                "--seed",
                "5",
                "--output",
                &path,
            ]);
            (dir, path)
        })
        .1
}

fn get_json(daemon: &Daemon, path: &str) -> Value {
    let (status, body) = http_get(daemon.port, path).expect("API answers");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The parts of a model's window that do not depend on when they are asked for.
fn window_of(daemon: &Daemon, model: &str) -> Value {
    let drift = get_json(daemon, &format!("/api/v1/models/{model}/drift?window=1h"));
    let performance = get_json(
        daemon,
        &format!("/api/v1/models/{model}/performance?window=1h"),
    );
    json!({
        "events": drift["events"],
        "features": drift["features"],
        "current": drift["current"],
        "latency_ms": drift["latency_ms"],
        "metrics": performance["metrics"],
        "segments": performance["segments"],
        "labelled": performance["labelled"],
    })
}

/// Which live instance owns each model, from `/api/v1/cluster`; each model has one.
/// An instance lists a model once it has restored the model's partitions, which may
/// be a moment after the assignment settled: waits (up to 60 s) for every model.
fn owners<'a>(instances: &[&'a Daemon], models: &[String]) -> BTreeMap<String, &'a Daemon> {
    let read = || {
        let mut out = BTreeMap::new();
        for d in instances {
            let c = get_json(d, "/api/v1/cluster");
            assert_eq!(c["enabled"], true);
            for m in c["owned_models"].as_array().unwrap() {
                let m = m.as_str().unwrap().to_string();
                assert!(out.insert(m.clone(), *d).is_none(), "{m} owned twice");
            }
        }
        out
    };
    let all: BTreeSet<&String> = models.iter().collect();
    wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
        read().keys().collect::<BTreeSet<_>>() == all
    });
    let out = read();
    let owned: BTreeSet<&String> = out.keys().collect();
    assert_eq!(owned, all, "every model has an owner");
    out
}

fn wait_consumed(
    group: &str,
    topics: &Topics,
    predictions: usize,
    labels: usize,
    logs: &[&Daemon],
) {
    let done = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
        committed_total(group, &topics.predictions, PARTITIONS) == predictions as i64
            && (labels == 0 || committed_total(group, &topics.labels, PARTITIONS) == labels as i64)
    });
    if !done {
        for d in logs {
            eprintln!("--- log:\n{}", d.log_text());
        }
        panic!(
            "group {group} committed {} of {predictions} predictions, {} of {labels} labels",
            committed_total(group, &topics.predictions, PARTITIONS),
            committed_total(group, &topics.labels, PARTITIONS)
        );
    }
}

fn assert_same_windows(single: &Daemon, instances: &[&Daemon], models: &[String], at: &str) {
    let owners = owners(instances, models);
    for m in models {
        let want = window_of(single, m);
        let got = window_of(owners[m], m);
        if std::env::var("CLUSTER_DEBUG").is_ok() && got != want {
            eprintln!("{m}: got {got:#}\nwant {want:#}");
            for d in instances {
                eprintln!("--- {}:\n{}", d.port, d.log_text());
            }
        }
        assert!(want["events"].as_u64().unwrap() > 0, "{at}: {m} has events");
        assert_json_close(&got, &want, &format!("{at}: {m}"));
    }
}

#[test]
fn three_daemons_give_one_daemons_windows_through_a_kill_and_a_lost_store() {
    let models = models();
    let topics = Topics {
        predictions: unique("cluster-preds"),
        labels: unique("cluster-labels"),
    };
    create_topic(&topics.predictions, PARTITIONS);
    create_topic(&topics.labels, PARTITIONS);
    let (single_group, cluster_group) = (unique("single"), unique("cluster"));
    let single_config = config(&topics, &single_group, false, &models);
    let configs: Vec<TestConfig> = (0..3)
        .map(|_| config(&topics, &cluster_group, true, &models))
        .collect();

    let (mut predictions, mut labels) = (0, 0);
    let mut send = |from: u64, n: u64, seed: u64| {
        let (p, l) = traffic(&models, from, n, seed);
        produce_murmur2(&topics.labels, &l[..l.len() / 2]);
        produce_murmur2(&topics.predictions, &p);
        produce_murmur2(&topics.labels, &l[l.len() / 2..]);
        predictions += p.len();
        labels += l.len();
        (predictions, labels)
    };
    let (p1, l1) = send(0, 2000, 1);

    let single = Daemon::start(&single_config, "single.log");
    let mut instances: Vec<Option<Daemon>> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| Some(Daemon::start(c, &format!("instance-{i}.log"))))
        .collect();
    wait_consumed(&single_group, &topics, p1, l1, &[&single]);
    {
        let live: Vec<&Daemon> = instances.iter().flatten().collect();
        wait_consumed(&cluster_group, &topics, p1, l1, &live);
        // All three joined: each owns a third of the partitions.
        settled(&instances, 4);
        assert_same_windows(&single, &live, &models, "three instances");
    }

    // SIGKILL the owner of the first model; the rest take its partitions over.
    let victim = {
        let live: Vec<&Daemon> = instances.iter().flatten().collect();
        let owner_port = owners(&live, &models)[&models[0]].port;
        instances
            .iter()
            .position(|d| d.as_ref().is_some_and(|d| d.port == owner_port))
            .unwrap()
    };
    instances[victim].take().unwrap().sigkill();
    let (p2, l2) = send(2000, 2000, 2);
    wait_consumed(&single_group, &topics, p2, l2, &[&single]);
    {
        let live: Vec<&Daemon> = instances.iter().flatten().collect();
        wait_consumed(&cluster_group, &topics, p2, l2, &live);
        settled(&instances, 6);
        assert_same_windows(&single, &live, &models, "after the kill");
    }

    // Another instance stops, loses its store, and starts again: its state is the
    // changelog's. The killed one comes back too.
    let other = (0..3).find(|&i| i != victim).unwrap();
    assert!(instances[other].take().unwrap().sigterm().success());
    std::fs::remove_dir_all(configs[other].dir.path().join("store")).unwrap();
    import_references(&configs[other], &models);
    instances[other] = Some(Daemon::start(&configs[other], "restarted.log"));
    instances[victim] = Some(Daemon::start(&configs[victim], "revived.log"));
    let (p3, l3) = send(4000, 500, 3);
    wait_consumed(&single_group, &topics, p3, l3, &[&single]);
    let live: Vec<&Daemon> = instances.iter().flatten().collect();
    wait_consumed(&cluster_group, &topics, p3, l3, &live);
    settled(&instances, 4);
    assert_same_windows(&single, &live, &models, "after the lost store");
    let restored: f64 = live
        .iter()
        .map(|d| d.metrics().sum("driftd_cluster_restored_records_total"))
        .sum();
    assert!(restored > 0.0, "state came back from the changelog");
    let owned: f64 = live
        .iter()
        .map(|d| d.metrics().sum("driftd_cluster_owned_models"))
        .sum();
    assert_eq!(owned, 5.0, "each model owned once");
    // A model's window gauges come from its owner alone (a dashboard's sum counts it
    // once), with the single daemon's value, once a tick has run everywhere.
    std::thread::sleep(Duration::from_secs(3));
    let owners = owners(&live, &models);
    for m in &models {
        let series = format!("driftd_window_events{{model=\"{m}\",version=\"v1\",window=\"1h\"}}");
        let reporting: Vec<u16> = live
            .iter()
            .filter(|d| d.metrics().get(&series).is_some())
            .map(|d| d.port)
            .collect();
        assert_eq!(
            reporting,
            vec![owners[m].port],
            "{series} on its owner only"
        );
        assert_eq!(
            owners[m].metrics().get(&series),
            single.metrics().get(&series),
            "{series}"
        );
    }
    for d in instances.into_iter().flatten() {
        assert!(d.sigterm().success());
    }
    assert!(single.sigterm().success());
}

/// Live traffic of every model (~100 records/s each, current timestamps, keyed by
/// model with murmur2) until stopped; `drift` shifts one model's distributions.
struct LiveTraffic {
    drift: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
}

impl LiveTraffic {
    fn start(topic: &str, models: &[String], drifting: &str) -> LiveTraffic {
        let drift = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s, topic, models, drifting) = (
            drift.clone(),
            stop.clone(),
            topic.to_string(),
            models.to_vec(),
            drifting.to_string(),
        );
        let handle = std::thread::spawn(move || {
            let producer: BaseProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", brokers())
                .set("partitioner", "murmur2_random")
                .set("linger.ms", "5")
                .create()
                .unwrap();
            let mut rng = SplitMix::new(23);
            let mut seq = 0u64;
            while !s.load(Ordering::SeqCst) {
                for _ in 0..10 {
                    for model in &models {
                        let drifted = *model == drifting && d.load(Ordering::SeqCst);
                        let (payload, _) =
                            driftd::generate::synthetic_record(&mut rng, model, seq, drifted);
                        let mut record = BaseRecord::to(&topic).key(model).payload(&payload);
                        while let Err((_, r)) = producer.send(record) {
                            record = r;
                            producer.poll(Duration::from_millis(5));
                        }
                    }
                    seq += 1;
                }
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_millis(100));
            }
            producer.flush(Duration::from_secs(10)).unwrap();
            seq * models.len() as u64
        });
        LiveTraffic {
            drift,
            stop,
            handle: Some(handle),
        }
    }

    fn set_drift(&self, on: bool) {
        self.drift.store(on, Ordering::SeqCst);
    }

    /// Stops and returns how many records were produced.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap()
    }
}

const PASSWORD: &str = "cluster-smtp-secret";

/// A daemon's config with the plan-drift rule e-mailing and retraining, 1 s buckets,
/// windows of 5 s (the rule's) and 1 h (compared at the end).
fn alerting_config(
    topics: &Topics,
    group: &str,
    cluster: bool,
    models: &[String],
    smtp_port: u16,
    retrain_topic: &str,
) -> TestConfig {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!("{PLAN_DRIFT_RULE}actions = [\"email\", \"retrain\"]\n"),
    )
    .unwrap();
    let secret = dir.path().join("smtp-password");
    std::fs::write(&secret, PASSWORD).unwrap();
    let extra = format!(
        r#"
[windows]
bucket = "1s"
windows = ["5s", "1h"]
tick = "1s"

[alerting]
rules = ["{rules}"]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "1h"

[email]
to = ["oncall@example.com"]
from = "driftd <driftd@example.com>"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
tls = "none"
username = "driftd"
password = {{ file = "{secret}" }}
timeout = "3s"

[retrain]
topic = "{retrain_topic}"
cooldown = "1h"

[outbox]
initial_backoff = "500ms"
max_backoff = "2s"

[cluster]
enabled = {cluster}
"#,
        rules = rules.display(),
        secret = secret.display(),
    );
    let config = write_config_with(&topics.predictions, &unique("dlq"), group, &extra);
    import_references(&config, models);
    std::mem::forget(dir);
    config
}

/// (firing, resolved) e-mails about `model` in a sink's directory.
fn mails_about(dir: &std::path::Path, model: &str) -> (usize, usize) {
    let mails = SmtpSink::mails(dir);
    let about: Vec<&Mail> = mails.iter().filter(|m| m.subject.contains(model)).collect();
    (
        about
            .iter()
            .filter(|m| m.subject.starts_with("[FIRING"))
            .count(),
        about
            .iter()
            .filter(|m| m.subject.starts_with("[RESOLVED"))
            .count(),
    )
}

/// Waits until the live instances own four partitions each.
fn settled(instances: &[Option<Daemon>], each: usize) {
    let live: Vec<&Daemon> = instances.iter().flatten().collect();
    let done = wait_until(Duration::from_secs(90), Duration::from_millis(500), || {
        live.iter().all(|d| {
            http_get(d.port, "/api/v1/cluster")
                .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
                .and_then(|c| c["owned_partitions"].as_array().map(Vec::len))
                == Some(each)
        })
    });
    if !done {
        for d in &live {
            eprintln!("--- {}:\n{}", d.port, d.log_text());
        }
        panic!(
            "the {} instances did not settle on {each} partitions each",
            live.len()
        );
    }
}

#[test]
fn alerts_are_emailed_and_retrained_once_through_a_kill_and_a_rolling_restart() {
    let models = models();
    let drifting = models[1].clone();
    let topics = Topics {
        predictions: unique("cluster-live"),
        labels: unique("cluster-live-labels"),
    };
    create_topic(&topics.predictions, PARTITIONS);
    let (single_retrain, cluster_retrain) = (unique("retrain-single"), unique("retrain-cluster"));
    create_topic(&single_retrain, 1);
    create_topic(&cluster_retrain, 1);
    let mail = tempfile::tempdir().unwrap();
    let (single_mail, cluster_mail) = (mail.path().join("single"), mail.path().join("cluster"));
    std::fs::create_dir(&single_mail).unwrap();
    std::fs::create_dir(&cluster_mail).unwrap();
    let single_smtp = SmtpSink::start(free_port(), &single_mail, PASSWORD);
    let cluster_smtp = SmtpSink::start(free_port(), &cluster_mail, PASSWORD);
    let (single_group, cluster_group) = (unique("single"), unique("cluster"));
    let single_config = alerting_config(
        &topics,
        &single_group,
        false,
        &models,
        single_smtp.port,
        &single_retrain,
    );
    let configs: Vec<TestConfig> = (0..3)
        .map(|_| {
            alerting_config(
                &topics,
                &cluster_group,
                true,
                &models,
                cluster_smtp.port,
                &cluster_retrain,
            )
        })
        .collect();

    let single = Daemon::start(&single_config, "single.log");
    let mut instances: Vec<Option<Daemon>> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| Some(Daemon::start(c, &format!("instance-{i}.log"))))
        .collect();
    settled(&instances, 4);
    let traffic = LiveTraffic::start(&topics.predictions, &models, &drifting);
    std::thread::sleep(Duration::from_secs(6));
    traffic.set_drift(true);
    let fired = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        mails_about(&single_mail, &drifting).0 == 1 && mails_about(&cluster_mail, &drifting).0 == 1
    });
    assert!(
        fired,
        "one firing e-mail from each; log:\n{}",
        single.log_text()
    );

    // The owner of the firing model dies; another restores its alert and group state
    // and, within the repeat interval, does not e-mail again.
    std::thread::sleep(Duration::from_secs(2));
    let victim = {
        let live: Vec<&Daemon> = instances.iter().flatten().collect();
        let port = owners(&live, &models)[&drifting].port;
        instances
            .iter()
            .position(|d| d.as_ref().is_some_and(|d| d.port == port))
            .unwrap()
    };
    instances[victim].take().unwrap().sigkill();
    settled(&instances, 6);
    std::thread::sleep(Duration::from_secs(5));
    instances[victim] = Some(Daemon::start(&configs[victim], "revived.log"));
    settled(&instances, 4);

    // A rolling restart of all three, under load.
    for i in 0..3 {
        assert!(instances[i].take().unwrap().sigterm().success());
        instances[i] = Some(Daemon::start(&configs[i], &format!("rolled-{i}.log")));
        settled(&instances, 4);
    }
    let live: Vec<&Daemon> = instances.iter().flatten().collect();
    let owner = owners(&live, &models)[&drifting];
    let firing = get_json(owner, "/api/v1/alerts");
    assert!(
        firing.to_string().contains(&drifting),
        "the restored owner still has the alert: {firing}"
    );

    traffic.set_drift(false);
    let resolved = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        mails_about(&single_mail, &drifting).1 == 1 && mails_about(&cluster_mail, &drifting).1 == 1
    });
    assert!(resolved, "one resolved e-mail from each");
    let produced = traffic.stop() as usize;
    wait_consumed(&single_group, &topics, produced, 0, &[&single]);
    wait_consumed(&cluster_group, &topics, produced, 0, &live);
    // Let the last ticks and deliveries run, then count everything once more.
    std::thread::sleep(Duration::from_secs(4));
    for m in &models {
        assert_eq!(
            mails_about(&single_mail, m),
            mails_about(&cluster_mail, m),
            "{m}"
        );
    }
    assert_eq!(mails_about(&cluster_mail, &drifting), (1, 1));
    assert_eq!(
        SmtpSink::mails(&single_mail).len(),
        SmtpSink::mails(&cluster_mail).len(),
        "the same e-mails"
    );
    let retrained = |topic: &str| -> Vec<String> {
        read_keyed(topic, 1, Duration::from_secs(15))
            .iter()
            .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned())
            .collect()
    };
    assert_eq!(retrained(&single_retrain), vec![drifting.clone()]);
    assert_eq!(
        retrained(&cluster_retrain),
        vec![drifting.clone()],
        "one retraining event"
    );
    for m in &models {
        let want = get_json(&single, &format!("/api/v1/models/{m}/drift?window=1h"));
        let got = get_json(
            owners(&live, &models)[m],
            &format!("/api/v1/models/{m}/drift?window=1h"),
        );
        assert_json_close(
            &got["features"],
            &want["features"],
            &format!("{m} 1h features"),
        );
        assert_eq!(got["events"], want["events"], "{m}");
    }
    for d in instances.into_iter().flatten() {
        assert!(d.sigterm().success());
    }
    assert!(single.sigterm().success());
    drop((single_smtp, cluster_smtp));
}

/// `driftd run`'s stderr when it stops at start.
fn refused_start(config: &TestConfig) -> String {
    let out = run_driftd(["run", "--config", config.path.to_str().unwrap()]);
    assert!(!out.status.success(), "driftd started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn start_up_checks_name_the_problem_and_a_record_off_its_partition_is_dead_lettered() {
    let topics = Topics {
        predictions: unique("cluster-check"),
        labels: unique("cluster-check-labels"),
    };
    create_topic(&topics.predictions, 4);
    create_topic(&topics.labels, 3);
    let group = unique("check");
    let config = config(&topics, &group, true, &[]);
    let e = refused_start(&config);
    assert!(
        e.contains("same partition count") && e.contains(": 4") && e.contains(": 3"),
        "{e}"
    );

    // Labels on 4 partitions too; a changelog that is there but deletes old records.
    let labels = unique("cluster-check-labels");
    create_topic(&labels, 4);
    let text = std::fs::read_to_string(&config.path)
        .unwrap()
        .replace(&topics.labels, &labels);
    std::fs::write(&config.path, &text).unwrap();
    create_topic(&format!("{group}-changelog"), 4);
    let e = refused_start(&config);
    assert!(
        e.contains("cleanup.policy=delete") && e.contains("must be"),
        "{e}"
    );

    // One of the wrong size, and none with create_topics = false.
    let wrong = unique("changelog");
    create_topic(&wrong, 2);
    let with = |extra: &str| {
        text.replace(
            "[cluster]\nenabled = true\n",
            &format!("[cluster]\nenabled = true\n{extra}\n"),
        )
    };
    std::fs::write(
        &config.path,
        with(&format!("changelog_topic = \"{wrong}\"")),
    )
    .unwrap();
    let e = refused_start(&config);
    assert!(e.contains("has 2 partitions, the input topics 4"), "{e}");
    let missing = unique("changelog");
    std::fs::write(
        &config.path,
        with(&format!(
            "changelog_topic = \"{missing}\"\ncreate_topics = false"
        )),
    )
    .unwrap();
    let e = refused_start(&config);
    assert!(
        e.contains("does not exist") && e.contains("--partitions 4"),
        "{e}"
    );

    // Created when allowed; a record on another partition than its model's is
    // dead-lettered with reason `partition`, one on its own is counted.
    std::fs::write(
        &config.path,
        with(&format!("changelog_topic = \"{missing}\"")),
    )
    .unwrap();
    import_references(&config, &["churn".to_string()]);
    let dead_letter = {
        let text = std::fs::read_to_string(&config.path).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("dead_letter_topic"))
            .unwrap();
        line.split('"').nth(1).unwrap().to_string()
    };
    let daemon = Daemon::start(&config, "run.log");
    assert!(
        daemon.wait_ready(true, Duration::from_secs(60)),
        "{}",
        daemon.log_text()
    );
    let own = partition_of(b"churn", 4);
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let mut rng = SplitMix::new(3);
    for (seq, partition) in [(0, own), (1, (own + 1) % 4)] {
        let (payload, _) = driftd::generate::synthetic_record(&mut rng, "churn", seq, false);
        producer
            .send(
                BaseRecord::to(&topics.predictions)
                    .partition(partition)
                    .key("churn")
                    .payload(&payload),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let dead = read_keyed(&dead_letter, 1, Duration::from_secs(30));
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].headers.get("driftd-reason").map(String::as_str),
        Some("partition")
    );
    let error = &dead[0].headers["driftd-error"];
    assert!(
        error.contains(&format!("owned by partition {own} of 4")),
        "{error}"
    );
    daemon.assert_counted_exactly(1, Duration::from_secs(30));
    assert!(daemon.sigterm().success());
}
