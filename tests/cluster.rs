//! Cluster mode on the real broker (`[cluster] enabled`): three daemons in one consumer
//! group give the windows one daemon gives — 12 input partitions, 5 models, labels on —
//! through a SIGKILL of a model's owner mid-stream and a restart of another instance
//! whose store directory was deleted (its state comes back from the changelog topic).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use driftd::base::partition::partition_of;
use driftd::base::rng::SplitMix;
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
fn owners<'a>(instances: &[&'a Daemon], models: &[String]) -> BTreeMap<String, &'a Daemon> {
    let mut out = BTreeMap::new();
    for d in instances {
        let c = get_json(d, "/api/v1/cluster");
        assert_eq!(c["enabled"], true);
        for m in c["owned_models"].as_array().unwrap() {
            let m = m.as_str().unwrap().to_string();
            assert!(out.insert(m.clone(), *d).is_none(), "{m} owned twice");
        }
    }
    let owned: BTreeSet<&String> = out.keys().collect();
    assert_eq!(owned, models.iter().collect(), "every model has an owner");
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
            && committed_total(group, &topics.labels, PARTITIONS) == labels as i64
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
        let settled = wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
            live.iter().all(|d| {
                get_json(d, "/api/v1/cluster")["owned_partitions"]
                    .as_array()
                    .is_some_and(|a| a.len() == 4)
            })
        });
        assert!(settled, "three members with four partitions each");
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
        let settled = wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
            live.iter().all(|d| {
                get_json(d, "/api/v1/cluster")["owned_partitions"]
                    .as_array()
                    .is_some_and(|a| a.len() == 6)
            })
        });
        assert!(
            settled,
            "two members with six partitions each after the kill"
        );
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
    let settled = wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
        live.iter().all(|d| {
            get_json(d, "/api/v1/cluster")["owned_partitions"]
                .as_array()
                .is_some_and(|a| a.len() == 4)
        })
    });
    assert!(settled, "three members again");
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
    for d in instances.into_iter().flatten() {
        assert!(d.sigterm().success());
    }
    assert!(single.sigterm().success());
}
