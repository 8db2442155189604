//! Alerts pushed into a real Alertmanager (Debian's `prometheus-alertmanager`, started
//! once by scripts/test.sh and shared: `DRIFTD_TEST_ALERTMANAGER`): a drift fires → the
//! alert is in Alertmanager's API with its labels, rendered annotations, generatorURL
//! and a lease; the drift stops → the alert resolves in Alertmanager. A silence made
//! through Alertmanager's API stops the notifications of its webhook receiver (a real
//! HTTP server here) and expiring it resumes them. Alertmanager down 30 s → what fired
//! meanwhile arrives once it is back; driftd SIGKILLed while firing → the alert expires
//! in Alertmanager after its lease, and comes back when driftd does. (Those two stop
//! an Alertmanager, so they run a private one, started through the same script.)

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn alertmanager() -> String {
    std::env::var("DRIFTD_TEST_ALERTMANAGER").expect(
        "DRIFTD_TEST_ALERTMANAGER is not set: run scripts/test.sh, which starts Alertmanager",
    )
}

/// Alertmanager's alerts of `model` (`GET /api/v2/alerts`, active or not).
fn alerts_of(model: &str) -> Vec<Value> {
    let base = url::Url::parse(&alertmanager()).unwrap();
    let port = base.port().unwrap();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("filter", &format!("model=\"{model}\""));
    let path = format!("/api/v2/alerts?{}", query.finish());
    match http_get(port, &path) {
        Some((200, body)) => serde_json::from_str::<Vec<Value>>(&body).unwrap_or_default(),
        other => panic!("Alertmanager answered {other:?}"),
    }
}

#[test]
fn a_drift_alert_reaches_alertmanager_with_labels_annotations_and_resolves() {
    let model = unique("am").replace('-', "_");
    let predictions = unique("am-preds");
    create_topic(&predictions, 1);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "{PLAN_DRIFT_RULE}description = \"The plan mix moved away from the reference.\"\n\
             annotations = {{ runbook_url = '{{{{ $externalURL }}}}/runbooks/{{{{ $labels.feature | toUpper }}}}', \
             share = '{{{{ $value | humanizePercentage }}}} of {{{{ $samples }}}}' }}\n"
        ),
    )
    .unwrap();
    let extra = format!(
        "[windows]\nbucket = \"1s\"\nwindows = [\"5s\"]\ntick = \"1s\"\n\n\
         [alerting]\nrules = [\"{}\"]\n\n\
         [alertmanager]\nurls = [\"{}\"]\nresend_delay = \"2s\"\n\
         generator_url = \"http://driftd.test:7853\"\n\n\
         [outbox]\ninitial_backoff = \"500ms\"\nmax_backoff = \"2s\"\n",
        rules.display(),
        alertmanager()
    );
    let config = write_config_with(&predictions, &unique("am-dlq"), &unique("group"), &extra);
    import_synthetic_reference(&config, &model, 5000);
    let daemon = Daemon::start(&config, "run.log");
    let traffic = Traffic::start(&predictions, &model);

    // Undrifted: nothing in Alertmanager.
    std::thread::sleep(Duration::from_secs(6));
    assert!(alerts_of(&model).is_empty(), "{}", daemon.log_text());

    // Drift: the firing alert appears, as Prometheus would push it.
    traffic.set_drift(true);
    let firing = wait_for(Duration::from_secs(40), Duration::from_millis(500), || {
        alerts_of(&model)
            .into_iter()
            .find(|a| a["status"]["state"] == "active")
    })
    .unwrap_or_else(|| {
        panic!(
            "no active alert in Alertmanager; log:\n{}",
            daemon.log_text()
        )
    });
    let labels = &firing["labels"];
    assert_eq!(labels["alertname"], "PlanDrift");
    assert_eq!(labels["model"], model.as_str());
    assert_eq!(labels["feature"], "plan");
    assert_eq!(labels["window"], "5s");
    assert_eq!(labels["severity"], "critical");
    let summary = firing["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("plan drifted on {model}: PSI ")),
        "{summary}"
    );
    assert_eq!(
        firing["annotations"]["description"],
        "The plan mix moved away from the reference."
    );
    // Templates rendered with Prometheus's variables and functions, driftd's too.
    assert_eq!(
        firing["annotations"]["runbook_url"],
        "http://driftd.test:7853/runbooks/PLAN"
    );
    let psi: f64 = summary.rsplit(' ').next().unwrap().parse().unwrap();
    let share = firing["annotations"]["share"].as_str().unwrap();
    assert!(share.contains("% of ") && psi > 0.2, "{share} / {summary}");
    assert_eq!(
        firing["generatorURL"],
        format!("http://driftd.test:7853/api/v1/models/{model}/drift?window=5s")
    );
    // The lease: endsAt ahead of now by about 4 × the resend delay (8 s).
    let ends = chrono::DateTime::parse_from_rfc3339(firing["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends.timestamp_millis() - now_ms();
    assert!((1_000..=10_000).contains(&ahead), "endsAt {ahead} ms ahead");

    // Still firing: re-sent every resend_delay (2 s), so the lease moves on.
    let renewed = wait_for(Duration::from_secs(15), Duration::from_millis(500), || {
        alerts_of(&model).into_iter().find(|a| {
            a["status"]["state"] == "active"
                && a["endsAt"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t > ends)
        })
    });
    assert!(
        renewed.is_some(),
        "the lease was not renewed: {:?}\n{}",
        alerts_of(&model),
        daemon.log_text()
    );

    // The drift stops: the alert resolves in Alertmanager (endsAt = when driftd
    // resolved it, in the past).
    traffic.set_drift(false);
    let resolved = wait_for(Duration::from_secs(40), Duration::from_millis(500), || {
        let list = alerts_of(&model);
        list.iter()
            .all(|a| a["status"]["state"] != "active")
            .then_some(list)
    });
    assert!(
        resolved.is_some(),
        "still active in Alertmanager: {:?}\n{}",
        alerts_of(&model),
        daemon.log_text()
    );
    let m = daemon.metrics();
    assert!(
        m.get(r#"driftd_outbox_deliveries_total{kind="alertmanager",result="delivered"}"#)
            .unwrap_or(0.0)
            >= 2.0
    );
}

/// The webhook notifications Alertmanager sent about `model`: (status, alerts' states).
fn notifications_about(calls: &WebhookCalls, model: &str) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, _, body)| serde_json::from_str::<Value>(body).ok())
        .filter(|b| b["groupLabels"]["model"] == model)
        .map(|b| b["status"].as_str().unwrap_or("").to_string())
        .collect()
}

fn am_request(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let port = url::Url::parse(base).unwrap().port().unwrap();
    http_request(
        port,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    )
    .unwrap_or_else(|| panic!("Alertmanager at {base} did not answer {method} {path}"))
}

fn hook_rule_config(rules_dir: &std::path::Path, am: &str, predictions: &str) -> TestConfig {
    let rules = rules_dir.join("rules.toml");
    std::fs::write(
        &rules,
        format!("{PLAN_DRIFT_RULE}labels = {{ receiver = \"hook\" }}\n"),
    )
    .unwrap();
    let extra = format!(
        "[windows]\nbucket = \"1s\"\nwindows = [\"5s\"]\ntick = \"1s\"\n\n\
         [alerting]\nrules = [\"{}\"]\n\n\
         [alertmanager]\nurls = [\"{am}\"]\nresend_delay = \"2s\"\n\n\
         [outbox]\ninitial_backoff = \"500ms\"\nmax_backoff = \"2s\"\n",
        rules.display(),
    );
    write_config_with(predictions, &unique("am-dlq"), &unique("group"), &extra)
}

#[test]
fn a_silence_in_alertmanager_stops_its_webhook_receiver_and_expiring_it_resumes() {
    let hook_addr = std::env::var("DRIFTD_TEST_ALERTMANAGER_HOOK")
        .expect("DRIFTD_TEST_ALERTMANAGER_HOOK is not set: run scripts/test.sh");
    let (_, calls) = webhook_server(&hook_addr, 200);
    let am = alertmanager();
    let model = unique("amsil").replace('-', "_");
    let predictions = unique("amsil-preds");
    create_topic(&predictions, 1);
    let dir = tempfile::tempdir().unwrap();
    let config = hook_rule_config(dir.path(), &am, &predictions);
    import_synthetic_reference(&config, &model, 5000);
    let daemon = Daemon::start(&config, "run.log");
    let traffic = Traffic::start(&predictions, &model);
    traffic.set_drift(true);
    let notified = wait_for(Duration::from_secs(40), Duration::from_millis(300), || {
        notifications_about(&calls, &model)
            .contains(&"firing".to_string())
            .then_some(())
    });
    assert!(
        notified.is_some(),
        "the webhook heard nothing:\n{}",
        daemon.log_text()
    );

    // Silenced through Alertmanager's own API.
    let now = chrono::Utc::now();
    let silence = serde_json::json!({
        "matchers": [{"name": "model", "value": model, "isRegex": false, "isEqual": true}],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "driftd tests",
        "comment": "planned migration",
    });
    let (status, body) = am_request(&am, "POST", "/api/v2/silences", &silence.to_string());
    assert_eq!(status, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    let suppressed = wait_for(Duration::from_secs(10), Duration::from_millis(200), || {
        alerts_of(&model)
            .iter()
            .any(|a| {
                a["status"]["state"] == "suppressed" && a["status"]["silencedBy"][0] == id.as_str()
            })
            .then_some(())
    });
    assert!(
        suppressed.is_some(),
        "not suppressed: {:?}",
        alerts_of(&model)
    );
    // A notification already on its way may still land; then nothing for 3 repeat
    // intervals (2 s each) although driftd keeps re-sending the alert.
    std::thread::sleep(Duration::from_secs(2));
    let before = notifications_about(&calls, &model).len();
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        notifications_about(&calls, &model).len(),
        before,
        "notified while silenced"
    );
    assert!(
        alerts_of(&model)
            .iter()
            .any(|a| a["status"]["state"] == "suppressed"),
        "driftd's re-sent alert is still held back"
    );

    // Expired: the notifications resume.
    let (status, body) = am_request(&am, "DELETE", &format!("/api/v2/silence/{id}"), "");
    assert_eq!(status, 200, "{body}");
    let resumed = wait_for(Duration::from_secs(20), Duration::from_millis(300), || {
        (notifications_about(&calls, &model).len() > before).then_some(())
    });
    assert!(
        resumed.is_some(),
        "no notification after the silence expired"
    );
    drop(traffic);
    drop(daemon);
}

/// A private Alertmanager on free ports (for the tests that stop it), through
/// scripts/alertmanager.sh; stopped when dropped.
struct PrivateAlertmanager {
    port: u16,
    env: Vec<(String, String)>,
}

impl PrivateAlertmanager {
    fn script(&self, action: &str) {
        let status = std::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/alertmanager.sh"),
        )
        .arg(action)
        .env("ALERTMANAGER_PORT", self.port.to_string())
        .env("ALERTMANAGER_HOOK_PORT", free_port().to_string())
        .envs(self.env.iter().map(|(k, v)| (k, v)))
        .status()
        .unwrap();
        assert!(status.success(), "alertmanager.sh {action} failed");
    }

    fn start() -> PrivateAlertmanager {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> PrivateAlertmanager {
        let am = PrivateAlertmanager {
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        am.script("start");
        am
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn alerts_of(&self, model: &str) -> Vec<Value> {
        let path = format!(
            "/api/v2/alerts?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", &format!("model=\"{model}\""))
                .finish()
        );
        match http_get(self.port, &path) {
            Some((200, body)) => serde_json::from_str(&body).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn active(&self, model: &str) -> bool {
        self.alerts_of(model)
            .iter()
            .any(|a| a["status"]["state"] == "active")
    }
}

impl Drop for PrivateAlertmanager {
    fn drop(&mut self) {
        self.script("stop");
    }
}

#[test]
fn an_alertmanager_outage_loses_nothing_and_a_dead_driftds_alerts_expire_after_the_lease() {
    let am = PrivateAlertmanager::start();
    let (first, second) = (
        unique("amout").replace('-', "_"),
        unique("amout2").replace('-', "_"),
    );
    let predictions = unique("amout-preds");
    create_topic(&predictions, 1);
    let dir = tempfile::tempdir().unwrap();
    let config = hook_rule_config(dir.path(), &am.url(), &predictions);
    import_synthetic_reference(&config, &first, 5000);
    import_synthetic_reference(&config, &second, 5000);
    let daemon = Daemon::start(&config, "run.log");
    let one = Traffic::start(&predictions, &first);
    let two = Traffic::start(&predictions, &second);
    one.set_drift(true);
    let up = wait_for(Duration::from_secs(40), Duration::from_millis(300), || {
        am.active(&first).then_some(())
    });
    assert!(
        up.is_some(),
        "no alert in Alertmanager:\n{}",
        daemon.log_text()
    );

    // Alertmanager down for 30 s (its alerts are in memory: they go with it); the
    // second model starts drifting meanwhile.
    am.script("stop");
    two.set_drift(true);
    std::thread::sleep(Duration::from_secs(30));
    am.script("start");
    let back = wait_for(Duration::from_secs(30), Duration::from_millis(300), || {
        (am.active(&first) && am.active(&second)).then_some(())
    });
    assert!(
        back.is_some(),
        "after the outage: {:?} {:?}\n{}",
        am.alerts_of(&first),
        am.alerts_of(&second),
        daemon.log_text()
    );
    // The outage was felt: pushes failed and were retried, not dropped.
    let failed: f64 = daemon
        .metrics()
        .0
        .iter()
        .filter(|(k, _)| {
            k.starts_with("driftd_outbox_deliveries_total")
                && k.contains("alertmanager")
                && k.contains("result=\"failed\"")
        })
        .map(|(_, v)| v)
        .sum();
    assert!(failed > 0.0, "no failed push during the outage");

    // driftd dies while both fire: Alertmanager keeps them until the lease (endsAt,
    // 4 × resend_delay = 8 s) runs out, then resolves them by itself.
    daemon.sigkill();
    let killed = std::time::Instant::now();
    assert!(am.active(&first), "expired at once");
    let expired = wait_for(Duration::from_secs(30), Duration::from_millis(300), || {
        (!am.active(&first) && !am.active(&second)).then_some(())
    });
    assert!(expired.is_some(), "still active 30 s after driftd died");
    assert!(
        killed.elapsed() >= Duration::from_secs(4),
        "expired after {:?}, before the lease",
        killed.elapsed()
    );
    // driftd comes back with its stored alert state and sends them again.
    let daemon = Daemon::start(&config, "run2.log");
    let again = wait_for(Duration::from_secs(30), Duration::from_millis(300), || {
        (am.active(&first) && am.active(&second)).then_some(())
    });
    assert!(
        again.is_some(),
        "not re-sent after the restart:\n{}",
        daemon.log_text()
    );
    drop((one, two));
}

#[test]
fn basic_auth_and_tls_reach_an_alertmanager_that_requires_them() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("am.crt"), dir.path().join("am.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // bcrypt of "am-test-password" (4 rounds): Alertmanager's basic_auth_users.
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  \
             driftd: $2b$04$wiv85MCJfJxVq7kuPYFGfufzdXxKOwAEDnbLl6Zp.7aU5ZysAsIye\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let am = PrivateAlertmanager::start_with(&[
        ("ALERTMANAGER_WEB_CONFIG", web.to_str().unwrap()),
        ("ALERTMANAGER_SCHEME", "https"),
    ]);
    let base = format!("https://127.0.0.1:{}", am.port);
    let curl = |user: Option<&str>| -> (String, String) {
        let mut c = std::process::Command::new("curl");
        c.args([
            "-s",
            "--cacert",
            cert.to_str().unwrap(),
            "-w",
            "\n%{http_code}",
        ]);
        if let Some(u) = user {
            c.args(["-u", u]);
        }
        let out = c.arg(format!("{base}/api/v2/alerts")).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
        (code.to_string(), body.to_string())
    };
    assert_eq!(
        curl(None).0,
        "401",
        "Alertmanager must refuse anonymous requests"
    );

    let model = unique("amtls").replace('-', "_");
    let predictions = unique("amtls-preds");
    create_topic(&predictions, 1);
    let password = dir.path().join("am-password");
    std::fs::write(&password, "am-test-password\n").unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, PLAN_DRIFT_RULE).unwrap();
    let extra = format!(
        "[windows]\nbucket = \"1s\"\nwindows = [\"5s\"]\ntick = \"1s\"\n\n\
         [alerting]\nrules = [\"{}\"]\n\n\
         [alertmanager]\nurls = [\"{base}\"]\nresend_delay = \"2s\"\n\
         basic_auth = {{ username = \"driftd\", password = {{ file = \"{}\" }} }}\n\
         tls = {{ ca_file = \"{}\" }}\n\n\
         [outbox]\ninitial_backoff = \"500ms\"\nmax_backoff = \"2s\"\n",
        rules.display(),
        password.display(),
        cert.display()
    );
    let config = write_config_with(&predictions, &unique("am-dlq"), &unique("group"), &extra);
    import_synthetic_reference(&config, &model, 5000);
    let daemon = Daemon::start(&config, "run.log");
    let traffic = Traffic::start(&predictions, &model);
    traffic.set_drift(true);
    let arrived = wait_for(Duration::from_secs(40), Duration::from_millis(500), || {
        let (code, body) = curl(Some("driftd:am-test-password"));
        (code == "200" && body.contains(&model)).then_some(())
    });
    assert!(
        arrived.is_some(),
        "no alert over TLS with basic auth:\n{}",
        daemon.log_text()
    );
    drop(traffic);
}
