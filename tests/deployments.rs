//! Canary deployments end to end on the real broker: a candidate 5 points less
//! accurate than its baseline is rolled back, an equal one is promoted, the verdicts
//! are in the API and the gauges, each is announced once as a CloudEvent on the
//! deployments topic, the rollback fires a `deployment_verdict` rule, and all
//! of it survives a SIGKILL (verdicts are a function of the checkpointed windows; the
//! announcement is stored with its outbox entry). Bad deployment tables name the key
//! and line.

mod common;

use std::time::Duration;

use common::*;
use driftd::base::rng::SplitMix;
use serde_json::{json, Value};

const PER_VERSION: usize = 6000;

fn records(values: &[Value]) -> Records {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("k{i}-{}", v["model"]), v.to_string().into_bytes()))
        .collect()
}

/// Predictions of `model`'s versions v1 and v2 (every prediction says "1") and
/// labels that agree with probability `accuracy.0` for v1 and `accuracy.1` for v2.
fn traffic(model: &str, accuracy: (f64, f64), seed: u64) -> (Vec<Value>, Vec<Value>) {
    let mut rng = SplitMix::new(seed);
    let t0 = now_ms() - 1_800_000;
    let (mut predictions, mut labels) = (Vec::new(), Vec::new());
    for i in 0..2 * PER_VERSION {
        let (version, p) = if i % 2 == 0 {
            ("v1", accuracy.0)
        } else {
            ("v2", accuracy.1)
        };
        let id = format!("{model}-{i}");
        predictions.push(json!({"model": model, "model_version": version, "id": id,
            "ts": t0 + i as i64 * 100, "prediction": 0.9}));
        let y = i64::from(rng.uniform() < p);
        labels.push(json!({"model": model, "id": id, "label": y}));
    }
    (predictions, labels)
}

/// A `[[models.<model>.deployments]]` table of v2 against v1 (`candidate` for v2's
/// glob), deciding at a 5-point effect.
fn deployment_table(model: &str, name: &str, kind: &str, candidate: &str) -> String {
    format!(
        "\n[[models.{model}.deployments]]\nname = \"{name}\"\nkind = \"{kind}\"\nbaseline = \"v1\"\ncandidate = \"{candidate}\"\nmin_effect = 0.05\n"
    )
}

/// The labels source, rules and 1 h window of these tests, then `tables`.
fn config_tables(labels: &str, rules: Option<&std::path::Path>, tables: &str) -> String {
    let alerting = rules
        .map(|r| format!("\n[alerting]\nrules = [\"{}\"]\n", r.display()))
        .unwrap_or_default();
    format!(
        "\n[[source]]\ntopic = \"{labels}\"\nrole = \"labels\"\n{alerting}\n[windows]\nwindows = [\"1h\"]\ntick = \"1s\"\n{tables}"
    )
}

fn deployments(daemon: &Daemon, model: &str) -> Value {
    let (status, body) =
        http_get(daemon.port, &format!("/api/v1/models/{model}/deployments")).unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_worse_canary_is_rolled_back_an_equal_one_never_and_both_survive_sigkill() {
    let predictions = unique("preds");
    let labels = unique("labels");
    let verdicts = unique("deployments");
    create_topic(&predictions, 3);
    create_topic(&labels, 3);
    create_topic(&verdicts, 1);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("deployments.toml"),
        r#"
[[rule]]
name = "CanaryRolledBack"
models = ["*"]
deployments = ["*"]
metric = "deployment_verdict"
window = "1h"
condition = "< 0"
min_samples = 1000
keep_firing_for = "1m"
severity = "critical"
summary = "{{ $labels.deployment }} of {{ $labels.model }}: roll back"
"#,
    )
    .unwrap();
    let extra = config_tables(
        &labels,
        Some(rules.path()),
        &format!(
            "\n[retrain]\ndeployments_topic = \"{verdicts}\"\n\n[outbox]\ninitial_backoff = \"500ms\"\nmax_backoff = \"2s\"\n{}{}",
            deployment_table("churn", "v2-canary", "canary", "v2"),
            deployment_table("fraud", "v2-canary", "canary", "v2*"),
        ),
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);
    let daemon = Daemon::start(&config, "run.log");
    // churn's candidate is 5 points worse; fraud's is as good as its baseline.
    let (churn_p, churn_l) = traffic("churn", (0.80, 0.75), 1);
    let (fraud_p, fraud_l) = traffic("fraud", (0.80, 0.80), 2);
    produce(&predictions, &records(&[churn_p, fraud_p].concat()));
    produce(&labels, &records(&[churn_l, fraud_l].concat()));

    let samples = |m: &Metrics, model: &str, arm: &str| {
        m.get(&format!(
            "driftd_deployment_samples{{arm=\"{arm}\",deployment=\"v2-canary\",metric=\"accuracy\",model=\"{model}\"}}"
        ))
    };
    let all = PER_VERSION as f64;
    let m = daemon.wait_metrics(Duration::from_secs(120), |m| {
        ["churn", "fraud"].iter().all(|model| {
            samples(m, model, "baseline") == Some(all)
                && samples(m, model, "candidate") == Some(all)
        })
    });
    let verdict = |m: &Metrics, model: &str| {
        m.get(&format!(
            "driftd_deployment_verdict{{deployment=\"v2-canary\",metric=\"all\",model=\"{model}\"}}"
        ))
    };
    assert_eq!(
        verdict(&m, "churn"),
        Some(-1.0),
        "churn rolled back:\n{}",
        daemon.log_text()
    );
    assert_ne!(
        verdict(&m, "fraud"),
        Some(-1.0),
        "an equal candidate is never rolled back"
    );

    let churn = deployments(&daemon, "churn");
    let d = &churn["deployments"][0];
    assert_eq!(d["deployment"], "v2-canary");
    assert_eq!(d["kind"], "canary");
    assert_eq!(d["verdict"], "rollback", "{churn}");
    assert_eq!(d["baseline_versions"], json!(["v1"]));
    assert_eq!(d["candidate_versions"], json!(["v2"]));
    let a = &d["metrics"][0];
    assert_eq!(a["metric"], "accuracy");
    let (b, c) = (
        a["baseline"]["value"].as_f64().unwrap(),
        a["candidate"]["value"].as_f64().unwrap(),
    );
    assert!((b - 0.80).abs() < 0.02 && (c - 0.75).abs() < 0.02, "{a}");
    let (low, high) = (a["low"].as_f64().unwrap(), a["high"].as_f64().unwrap());
    assert!(low < c - b && c - b < high && high < 0.0, "{a}");
    let fraud = deployments(&daemon, "fraud");
    assert_ne!(fraud["deployments"][0]["verdict"], "rollback", "{fraud}");
    let before = (churn, fraud);

    // Each verdict is announced on the deployments topic, once, with its evidence:
    // churn's rollback, and fraud's promotion (its candidate is within min_effect).
    let events = read_events(&verdicts, 2);
    let subjects: Vec<_> = events.iter().map(|e| e["subject"].clone()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    let of = |subject: &str| {
        events
            .iter()
            .find(|e| e["subject"] == subject)
            .unwrap_or_else(|| panic!("no event for {subject}: {subjects:?}"))
    };
    let e = of("churn/v2-canary");
    assert_eq!(e["type"], "io.driftd.deployment.verdict");
    assert_eq!(e["data"]["verdict"], "rollback");
    assert_eq!(e["data"]["previous_verdict"], Value::Null);
    assert_eq!(e["data"]["candidate_versions"], json!(["v2"]));
    assert_eq!(e["data"]["metrics"][0]["metric"], "accuracy");
    assert!(
        e["data"]["metrics"][0]["high"].as_f64().unwrap() < 0.0,
        "{e}"
    );
    let e = of("fraud/v2-canary");
    assert_eq!(e["data"]["verdict"], "promote", "{e}");
    assert!(
        e["data"]["metrics"][0]["low"].as_f64().unwrap() > -0.05,
        "{e}"
    );
    // ... and fires the rule for churn's deployment, not fraud's.
    let firing = |m: &Metrics, model: &str| {
        m.get(&format!(
            "driftd_alerts{{alertname=\"CanaryRolledBack\",alertstate=\"firing\",deployment=\"v2-canary\",feature=\"\",model=\"{model}\",segment=\"\",severity=\"critical\",version=\"\",window=\"1h\"}}"
        ))
    };
    let m = daemon.wait_metrics(Duration::from_secs(30), |m| firing(m, "churn") == Some(1.0));
    assert_eq!(
        firing(&m, "fraud"),
        None,
        "an equal candidate fires nothing"
    );
    let alerts = {
        let (status, body) = http_get(daemon.port, "/api/v1/alerts").unwrap();
        assert_eq!(status, 200, "{body}");
        body
    };
    assert!(alerts.contains("v2-canary of churn: roll back"), "{alerts}");

    // The verdicts are a function of the checkpointed windows: a SIGKILL changes nothing.
    daemon.sigkill();
    let daemon = Daemon::start(&config, "run2.log");
    let m = daemon.wait_metrics(Duration::from_secs(60), |m| {
        samples(m, "churn", "candidate") == Some(all)
            && samples(m, "fraud", "candidate") == Some(all)
    });
    assert_eq!(verdict(&m, "churn"), Some(-1.0));
    let after = (deployments(&daemon, "churn"), deployments(&daemon, "fraud"));
    assert_eq!(
        after.0["deployments"], before.0["deployments"],
        "the same evidence after the restart"
    );
    assert_eq!(after.1["deployments"], before.1["deployments"]);
    daemon.wait_metrics(Duration::from_secs(30), |m| firing(m, "churn") == Some(1.0));
    // A few ticks after the restart the verdict is still the one already announced.
    std::thread::sleep(Duration::from_secs(3));
    let events = read_events(&verdicts, 2);
    assert_eq!(events.len(), 2, "no second announcement: {events:?}");
    daemon.sigterm();
}

/// The CloudEvents on `topic`, once at least `at_least` arrived (or after 30 s).
fn read_events(topic: &str, at_least: usize) -> Vec<Value> {
    read_topic(topic, at_least, Duration::from_secs(30))
        .into_iter()
        .map(|(payload, _)| serde_json::from_slice(&payload).unwrap())
        .collect()
}

#[test]
fn a_bad_deployment_table_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let check = |table: &str| {
        let path = dir.path().join("driftd.toml");
        std::fs::write(
            &path,
            format!(
                "[kafka]\nbrokers = [\"127.0.0.1:1\"]\ngroup_id = \"g\"\n\n[[source]]\ntopic = \"t\"\nrole = \"predictions\"\n\n[windows]\nwindows = [\"1h\"]\n\n{table}"
            ),
        )
        .unwrap();
        let out = run_driftd(["config", "check", "--config", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{table}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let table = "[[models.churn.deployments]]\nname = \"c\"\nkind = \"canary\"\nbaseline = \"v1\"\ncandidate = \"v2\"\n";
    let err = check(&format!("{table}min_effect = 0.05\nwindow = \"24h\"\n"));
    assert!(
        err.contains("line 18")
            && err.contains("window `24h` is not one of [windows] windows (1h)"),
        "{err}"
    );
    let err = check(&format!("{table}min_effect = -1\n"));
    assert!(
        err.contains("min_effect") && err.contains("must be a positive number"),
        "{err}"
    );
    let err = check(&format!("{table}min_effect = 0.05\nkind2 = 1\n"));
    assert!(err.contains("kind2"), "{err}");
    let err = check(&format!("{table}min_effect = 0.05\nalpha = 0.7\n"));
    assert!(
        err.contains("alpha") && err.contains("between 0 and 0.5"),
        "{err}"
    );
    let err = check("[[models.churn.deployments]]\nname = \"c\"\nkind = \"blue-green\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nmin_effect = 0.05\n");
    assert!(err.contains("blue-green"), "{err}");
}

/// A shadow version scoring the same requests as the live one, disagreeing on 12 % of
/// them: the pairs are joined by request id in whatever order they arrive, the
/// agreement is the stream's to the request, who was right when they disagreed is
/// counted once the labels come, the live version's own label join is untouched by
/// its shadow, and all of it is the same after a SIGKILL.
#[test]
fn a_shadow_disagreeing_on_12_percent_reports_it_and_who_was_right() {
    const N: usize = 4000;
    let predictions = unique("shadow-preds");
    let labels = unique("shadow-labels");
    create_topic(&predictions, 3);
    create_topic(&labels, 3);
    let extra = config_tables(
        &labels,
        None,
        &deployment_table("rank", "v2-shadow", "shadow", "v2"),
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);
    let mut rng = SplitMix::new(7);
    let t0 = now_ms() - 1_800_000;
    let (mut preds, mut outcomes) = (Vec::new(), Vec::new());
    let (mut agree, mut live_only, mut shadow_only, mut both) = (0, 0, 0, 0);
    for i in 0..N {
        let id = format!("r{i}");
        let ts = t0 + i as i64 * 100;
        let disagree = rng.uniform() < 0.12;
        let y = rng.uniform() < 0.8;
        let shadow_score = if disagree { 0.1 } else { 0.85 };
        // Live and shadow of one request on different partitions: either comes first.
        preds.push(
            json!({"model": "rank", "model_version": "v1", "id": id, "ts": ts, "prediction": 0.9}),
        );
        preds.push(json!({"model": "rank", "model_version": "v2", "id": id, "ts": ts, "prediction": shadow_score}));
        outcomes.push(json!({"model": "rank", "id": id, "label": i64::from(y)}));
        match (disagree, y) {
            (false, true) => both += 1,
            (false, false) => {}
            (true, true) => live_only += 1,
            (true, false) => shadow_only += 1,
        }
        agree += usize::from(!disagree);
    }
    // Half the labels before the predictions, half after.
    produce(&labels, &records(&outcomes[..N / 2]));
    produce(&predictions, &records(&preds));
    produce(&labels, &records(&outcomes[N / 2..]));
    let daemon = Daemon::start(&config, "run.log");
    let pairs = |m: &Metrics, kind: &str| {
        m.get(&format!(
            "driftd_deployment_pairs{{deployment=\"v2-shadow\",kind=\"{kind}\",model=\"rank\"}}"
        ))
    };
    let m = daemon.wait_metrics(Duration::from_secs(120), |m| {
        pairs(m, "labelled") == Some(N as f64)
    });
    assert_eq!(pairs(&m, "pairs"), Some(N as f64));
    let samples = |arm: &str| {
        m.get(&format!(
            "driftd_deployment_samples{{arm=\"{arm}\",deployment=\"v2-shadow\",metric=\"accuracy\",model=\"rank\"}}"
        ))
    };
    assert_eq!(
        (samples("baseline"), samples("candidate")),
        (Some(N as f64), Some(N as f64)),
        "every live prediction still meets its label; every shadow one too"
    );
    let report = deployments(&daemon, "rank");
    let s = &report["deployments"][0]["shadow"];
    assert_eq!(s["pairs"], N, "{report}");
    let agreement = s["agreement"].as_f64().unwrap();
    assert!(
        (agreement - agree as f64 / N as f64).abs() < 1e-12,
        "the stream's agreement: {s}"
    );
    let sigma = (0.88f64 * 0.12 / N as f64).sqrt();
    assert!(
        (agreement - 0.88).abs() < 4.0 * sigma,
        "12 % ± sampling error: {s}"
    );
    let (low, high) = (
        s["agreement_low"].as_f64().unwrap(),
        s["agreement_high"].as_f64().unwrap(),
    );
    assert!(low < 0.88 && 0.88 < high, "{s}");
    assert_eq!(
        (
            &s["live_only_right"],
            &s["shadow_only_right"],
            &s["both_right"]
        ),
        (&json!(live_only), &json!(shadow_only), &json!(both)),
        "{s}"
    );
    assert_eq!(s["score_difference_p90"], 1.0, "0.8 apart on 12 %: {s}");
    let before = report["deployments"].clone();

    daemon.sigkill();
    let daemon = Daemon::start(&config, "run2.log");
    daemon.wait_metrics(Duration::from_secs(60), |m| {
        pairs(m, "labelled") == Some(N as f64)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        deployments(&daemon, "rank")["deployments"],
        before,
        "the same pairs, none twice, after a SIGKILL"
    );
    daemon.sigterm();
}

/// Version-relative rules: a candidate's accuracy against its baseline's over the same
/// window (`< baseline * 0.97`), and its inputs against the baseline's in the same bins
/// (`psi > baseline + 0.1`). Inputs that moved for both versions page the ordinary
/// PSI rule, not the version-relative one; an equally accurate candidate pages nothing.
#[test]
fn version_relative_rules_compare_a_candidate_with_its_baseline() {
    const N: usize = 3000;
    let predictions = unique("relative-preds");
    let labels = unique("relative-labels");
    create_topic(&predictions, 3);
    create_topic(&labels, 3);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("relative.toml"),
        r#"
[[rule]]
name = "CandidateLessAccurate"
deployments = ["*"]
metric = "accuracy"
window = "1h"
condition = "< baseline * 0.97"
min_samples = 1000
summary = "{{ $labels.deployment }} of {{ $labels.model }}: accuracy {{ printf \"%.4f\" $value }} against {{ printf \"%.4f\" $baseline }}"

[[rule]]
name = "CandidateInputsDiffer"
deployments = ["*"]
features = ["*"]
metric = "psi"
window = "1h"
condition = "> baseline + 0.1"
min_samples = 1000

[[rule]]
name = "InputsMoved"
versions = ["*"]
features = ["*"]
metric = "psi"
window = "1h"
condition = "> 0.1"
"#,
    )
    .unwrap();
    let extra = config_tables(
        &labels,
        Some(rules.path()),
        &format!(
            "{}{}",
            deployment_table("loans", "v2-canary", "canary", "v2"),
            deployment_table("cards", "v2-canary", "ab", "v2"),
        ),
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);
    // loans' reference: x and y uniform on 0..99.
    let reference = config.dir.path().join("loans-reference.jsonl");
    let rows: Vec<String> = (0..2000)
        .map(|i| {
            json!({"model": "loans", "features": {"x": i % 100, "y": (i * 7) % 100},
                "prediction": 0.9})
            .to_string()
        })
        .collect();
    std::fs::write(&reference, rows.join("\n")).unwrap();
    driftd([
        "reference",
        "import",
        "--model",
        "loans",
        "--file",
        reference.to_str().unwrap(),
        "--config",
        config.path.to_str().unwrap(),
    ]);
    // Both loans versions see x on 50..99 (the inputs moved); only v2 sees y on 50..99.
    // loans' v2 is 6 points less accurate, cards' v2 as accurate as its v1.
    let mut rng = SplitMix::new(11);
    let t0 = now_ms() - 1_800_000;
    let (mut preds, mut outcomes) = (Vec::new(), Vec::new());
    let mut right = std::collections::BTreeMap::<(&str, &str), (u64, u64)>::new();
    for i in 0..4 * N {
        let model = if i % 4 < 2 { "loans" } else { "cards" };
        let version = if i % 2 == 0 { "v1" } else { "v2" };
        let id = format!("{model}-{i}");
        let x = 50 + (i / 4) % 50;
        let y = if (model, version) == ("loans", "v2") {
            50 + (i / 4) % 50
        } else {
            (i / 4) % 100
        };
        preds.push(json!({"model": model, "model_version": version, "id": id,
            "ts": t0 + i as i64 * 50, "features": {"x": x, "y": y}, "prediction": 0.9}));
        let p = if (model, version) == ("loans", "v2") {
            0.74
        } else {
            0.80
        };
        let y = rng.uniform() < p;
        let r = right.entry((model, version)).or_default();
        *r = (r.0 + u64::from(y), r.1 + 1);
        outcomes.push(json!({"model": model, "id": id, "label": i64::from(y)}));
    }
    produce(&predictions, &records(&preds));
    produce(&labels, &records(&outcomes));
    let daemon = Daemon::start(&config, "run.log");
    let samples = |m: &Metrics, model: &str, arm: &str| {
        m.get(&format!(
            "driftd_deployment_samples{{arm=\"{arm}\",deployment=\"v2-canary\",metric=\"accuracy\",model=\"{model}\"}}"
        ))
    };
    daemon.wait_metrics(Duration::from_secs(120), |m| {
        ["loans", "cards"].iter().all(|model| {
            samples(m, model, "baseline") == Some(N as f64)
                && samples(m, model, "candidate") == Some(N as f64)
        })
    });
    let firing = |alertname: &str| -> Vec<Value> {
        let (status, body) = http_get(daemon.port, "/api/v1/alerts").unwrap();
        assert_eq!(status, 200, "{body}");
        let all: Value = serde_json::from_str(&body).unwrap();
        all["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == alertname && a["state"] == "firing")
            .cloned()
            .collect()
    };
    let mut accuracy = Vec::new();
    let mut inputs = Vec::new();
    let mut moved = Vec::new();
    wait_until(Duration::from_secs(30), Duration::from_millis(500), || {
        accuracy = firing("CandidateLessAccurate");
        inputs = firing("CandidateInputsDiffer");
        moved = firing("InputsMoved");
        !accuracy.is_empty() && !inputs.is_empty() && moved.len() >= 3
    });
    let labels_of = |alerts: &[Value], key: &str| -> Vec<String> {
        let mut v: Vec<String> = alerts
            .iter()
            .map(|a| a["labels"][key].as_str().unwrap_or("").to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        labels_of(&accuracy, "model"),
        ["loans"],
        "only the less accurate candidate: {accuracy:?}\n{}",
        daemon.log_text()
    );
    let a = &accuracy[0];
    assert_eq!(a["labels"]["deployment"], "v2-canary");
    assert!(a["labels"].get("version").is_none(), "{a}");
    let (c, n) = right[&("loans", "v2")];
    let value = a["value"].as_f64().unwrap();
    assert!(
        (value - c as f64 / n as f64).abs() < 1e-9,
        "the candidate's accuracy over its labelled outcomes: {a}"
    );
    let (bc, bn) = right[&("loans", "v1")];
    let baseline = bc as f64 / bn as f64;
    assert!(
        (a["baseline"].as_f64().unwrap() - baseline).abs() < 1e-9,
        "the baseline's: {a}"
    );
    assert_eq!(
        a["annotations"]["summary"],
        format!(
            "v2-canary of loans: accuracy {:.4} against {:.4}",
            c as f64 / n as f64,
            baseline
        )
    );
    assert_eq!(
        labels_of(&inputs, "feature"),
        ["y"],
        "y differs between the versions, x moved for both: {inputs:?}"
    );
    assert_eq!(labels_of(&inputs, "model"), ["loans"]);
    let mut moved: Vec<(String, String)> = moved
        .iter()
        .map(|a| {
            let l = |k: &str| a["labels"][k].as_str().unwrap_or("").to_string();
            (l("version"), l("feature"))
        })
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        [("v1", "x"), ("v2", "x"), ("v2", "y")].map(|(v, f)| (v.to_string(), f.to_string())),
        "against the profile, x moved for both versions and y for v2"
    );
    daemon.sigterm();
}
