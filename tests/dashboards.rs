//! The Grafana dashboards in dashboards/ against a real Prometheus (the Debian package,
//! `DRIFTD_PROMETHEUS` / `DRIFTD_PROMTOOL`, set by scripts/test.sh) scraping a real
//! driftd during a drift scenario on the real broker:
//!
//! * every panel target and annotation query of every dashboard, with its variables
//!   substituted the way Grafana would (query variables resolved through
//!   Prometheus's API), returns at least one series;
//! * the dashboards follow the rules of grafana/dashboard-linter (which the Go module
//!   proxy does not serve here, so they are checked in this file): a `datasource`
//!   template variable and `${datasource}` on every panel and target, `job` and
//!   `instance` variables used by every selector, `$__rate_interval` in every rate,
//!   a title, description and unit on every panel, stable unique uids, no `${DS_…}`
//!   import placeholders;
//! * `promtool check metrics` finds nothing to report on driftd's /metrics.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use driftd::{base::rng::SplitMix, generate::synthetic_record};
use serde_json::{json, Value};

const DASHBOARDS: &[&str] = &["driftd-overview", "driftd-model", "driftd-service"];

fn dashboard(name: &str) -> Value {
    let path = format!("{}/dashboards/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every panel (rows' nested panels included), without the rows themselves.
fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// (where, expr) of every query: panel targets and annotations.
fn queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().unwrap() {
            out.push((
                format!("panel `{}` target {}", p["title"], t["refId"]),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        if let Some(expr) = a["expr"].as_str() {
            out.push((format!("annotation `{}`", a["name"]), expr.to_string()));
        }
    }
    out
}

#[test]
fn dashboards_follow_the_lint_rules() {
    let mut uids = std::collections::BTreeSet::new();
    for name in DASHBOARDS {
        let d = dashboard(name);
        let text = d.to_string();
        assert_eq!(d["uid"], *name, "{name}: stable uid = file name");
        assert!(uids.insert(d["uid"].to_string()));
        assert!(!text.contains("${DS_"), "{name}: import placeholders");
        let vars: BTreeMap<String, Value> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap().to_string(), v.clone()))
            .collect();
        let ds = &vars["datasource"];
        assert_eq!(ds["type"], "datasource", "{name}");
        assert_eq!(ds["query"], "prometheus", "{name}");
        for v in ["job", "instance"] {
            assert!(vars.contains_key(v), "{name}: a `{v}` variable");
        }
        for (k, v) in &vars {
            if v["type"] == "query" {
                assert_eq!(
                    v["datasource"]["uid"], "${datasource}",
                    "{name}: variable {k}"
                );
            }
        }
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{name}: a panel without title");
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: `{title}` has no description"
            );
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{name}: `{title}`");
            assert!(
                p["fieldConfig"]["defaults"]["unit"].is_string(),
                "{name}: `{title}` has no unit"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: `{title}` has no targets");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{name}: `{title}`");
            }
        }
        for (place, expr) in queries(&d) {
            for sel in selectors(&expr) {
                assert!(
                    sel.contains(r#"job=~"$job""#) && sel.contains(r#"instance=~"$instance""#),
                    "{name}: {place}: selector {{{sel}}} lacks the job/instance matchers"
                );
            }
            for f in ["rate(", "increase(", "irate("] {
                if expr.contains(f) {
                    assert!(
                        expr.contains("[$__rate_interval]"),
                        "{name}: {place}: {f} without $__rate_interval"
                    );
                }
            }
        }
    }
}

/// The label matchers of every `metric{…}` selector in a PromQL expression.
fn selectors(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find('{') {
        let end = rest[i..].find('}').map(|j| i + j).unwrap_or(rest.len());
        out.push(rest[i + 1..end].to_string());
        rest = &rest[end.min(rest.len())..];
        if rest.len() <= 1 {
            break;
        }
        rest = &rest[1..];
    }
    out
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(driftd_port: u16) -> Prometheus {
        let bin = std::env::var("DRIFTD_PROMETHEUS")
            .expect("DRIFTD_PROMETHEUS is not set: run scripts/test.sh, which installs Prometheus");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: driftd\n    static_configs:\n      - targets: [\"127.0.0.1:{driftd_port}\"]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            http_get(port, "/-/ready").map(|r| r.0) == Some(200)
        });
        assert!(ready, "Prometheus did not become ready");
        p
    }

    fn query(&self, expr: &str) -> Vec<Value> {
        let (status, body) = http_get(self.port, &format!("/api/v1/query?query={}", encode(expr)))
            .expect("Prometheus answers");
        assert_eq!(status, 200, "{expr}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        match &v["data"]["result"] {
            Value::Array(a) => a.clone(),
            // A scalar result (e.g. `time() - …` would be a vector; scalars count as data).
            other if !other.is_null() => vec![other.clone()],
            _ => vec![],
        }
    }

    /// `label_values(selector, label)` as Grafana resolves it.
    fn label_values(&self, selector: &str, label: &str) -> Vec<String> {
        let (status, body) = http_get(
            self.port,
            &format!("/api/v1/series?match%5B%5D={}", encode(selector)),
        )
        .unwrap();
        assert_eq!(status, 200, "{selector}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let mut out: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s[label].as_str().map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn substitute(expr: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = expr
        .replace("$__rate_interval", "30s")
        .replace("$__interval", "5s")
        .replace("$__range", "2m");
    // Longest names first, so `$model` does not eat `$models`.
    let mut names: Vec<&String> = values.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names {
        out = out.replace(&format!("${n}"), &values[n]);
    }
    out
}

/// Every combination of variable values Grafana could show: multi-value variables with
/// "All" take their all-value; single-value variables each of their values in turn.
fn variable_combinations(d: &Value, prom: &Prometheus) -> Vec<BTreeMap<String, String>> {
    let mut combos = vec![BTreeMap::new()];
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap().to_string();
        let def = v["definition"].as_str().unwrap();
        let inner = def
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: not label_values(…): {def}"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let mut next = Vec::new();
        for c in &combos {
            if v["includeAll"] == true {
                let mut c = c.clone();
                c.insert(name.clone(), v["allValue"].as_str().unwrap().to_string());
                next.push(c);
                continue;
            }
            let values = prom.label_values(&substitute(selector.trim(), c), label.trim());
            assert!(!values.is_empty(), "variable {name} ({def}) has no values");
            for value in values {
                let mut c = c.clone();
                c.insert(name.clone(), value);
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

#[test]
fn every_panel_query_returns_data_from_a_real_prometheus() {
    let promtool = std::env::var("DRIFTD_PROMTOOL")
        .expect("DRIFTD_PROMTOOL is not set: run scripts/test.sh, which installs Prometheus");
    let predictions = unique("preds");
    let labels = unique("labels");
    create_topic(&predictions, 2);
    create_topic(&labels, 1);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("r.toml"),
        r#"
[[rule]]
name = "PlanDrift"
features = ["plan"]
metric = "psi"
window = "1m"
condition = "> 0.2"
min_samples = 50
actions = ["retrain"]
"#,
    )
    .unwrap();
    let extra = format!(
        r#"
[[source]]
topic = "{labels}"
role = "labels"

[windows]
bucket = "1s"
windows = ["10s", "1m"]
tick = "1s"

[labels]
segment_key = "region"

[labels.tasks]
ltv = "regression"

[alerting]
rules = ["{rules}"]

[retrain]
topic = "{retrain}"

[models.churn]
reference_metrics = {{ accuracy = 0.73 }}

[[models.churn.deployments]]
name = "v2-canary"
kind = "canary"
baseline = "v1"
candidate = "v2"
min_effect = 0.05
min_samples = 20

[[models.churn.deployments]]
name = "v2-shadow"
kind = "shadow"
baseline = "v1"
candidate = "v2"
min_effect = 0.05
min_samples = 20

[models.ltv]
reference_metrics = {{ mae = 0.3 }}
"#,
        rules = rules.path().display(),
        retrain = unique("retrain"),
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);
    for model in ["churn", "ltv"] {
        import_synthetic_reference(&config, model, 3000);
    }
    let daemon = Daemon::start(&config, "run.log");
    let prom = Prometheus::start(daemon.port);

    // 20 s of drifted traffic (and a few malformed records) for two models, with labels:
    // binary for churn, numeric for ltv.
    let mut rng = SplitMix::new(9);
    let started = Instant::now();
    let mut seq = 0u64;
    while started.elapsed() < Duration::from_secs(20) {
        let mut preds: Records = Vec::new();
        let mut labs: Records = Vec::new();
        for _ in 0..40 {
            let model = if seq.is_multiple_of(2) {
                "churn"
            } else {
                "ltv"
            };
            let (record, score) = synthetic_record(&mut rng, model, seq, true);
            if model == "churn" {
                // A v2 scoring the same request, for the deployment row (canary and
                // shadow of churn).
                let mut v2: Value = serde_json::from_str(&record).unwrap();
                v2["model_version"] = json!("v2");
                v2["prediction"] = json!((score + 0.1 * rng.normal()).clamp(0.0, 1.0));
                preds.push((format!("k{seq}-v2"), v2.to_string().into_bytes()));
            }
            preds.push((format!("k{seq}"), record.into_bytes()));
            let label = if model == "churn" {
                json!(u8::from(rng.uniform() < score))
            } else {
                json!(score + 0.2 * rng.normal())
            };
            labs.push((
                format!("k{seq}"),
                json!({"model": model, "id": format!("{model}-{seq}"), "label": label, "ts": now_ms()})
                    .to_string()
                    .into_bytes(),
            ));
            seq += 1;
        }
        preds.push(("bad".into(), b"{not json".to_vec()));
        produce(&predictions, &preds);
        produce(&labels, &labs);
        std::thread::sleep(Duration::from_millis(500));
    }
    let firing = wait_until(Duration::from_secs(30), Duration::from_millis(500), || {
        !prom
            .query(r#"driftd_alerts{alertstate="firing"}"#)
            .is_empty()
    });
    assert!(
        firing,
        "no firing alert scraped; log:\n{}",
        daemon.log_text()
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for name in DASHBOARDS {
        let d = dashboard(name);
        let combos = variable_combinations(&d, &prom);
        for (place, expr) in queries(&d) {
            checked += 1;
            let ok = combos
                .iter()
                .any(|c| !prom.query(&substitute(&expr, c)).is_empty());
            if !ok {
                failures.push(format!("{name}: {place}: {expr}"));
            }
        }
    }
    assert!(checked >= 40, "only {checked} queries");
    assert!(
        failures.is_empty(),
        "queries without data:\n{}",
        failures.join("\n")
    );

    // promtool's metric lint on what Prometheus scraped.
    let (_, metrics) = http_get(daemon.port, "/metrics").unwrap();
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
    assert!(
        metrics.contains("driftd_feature_psi{"),
        "the scenario produced feature gauges"
    );
}
