//! Alerting end to end, against the real broker and a real SMTP server over TCP
//! (scripts/smtp_sink.py, which requires AUTH): drift → pending → firing → one e-mail
//! per repeat interval → resolved e-mail; one retraining CloudEvent per cooldown; an
//! SMTP outage of 60 s delays the e-mail without losing or repeating it; a SIGKILL
//! right after the outbox write still delivers exactly once after restart; manual
//! retraining and rule reloads through the API; a silence that stops the e-mails,
//! survives a restart, and resumes them when lifted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const PASSWORD: &str = "s3cret-for-tests";

/// [`PLAN_DRIFT_RULE`] with e-mail and retraining.
fn plan_drift_rules() -> String {
    format!("{PLAN_DRIFT_RULE}actions = [\"email\", \"retrain\"]\n")
}

struct Setup {
    config: TestConfig,
    retrain_topic: String,
    smtp_port: u16,
    mail_dir: std::path::PathBuf,
    predictions: String,
}

/// A config with 1 s buckets, a 5 s window, a 1 s tick, short notification timers,
/// the rule above, e-mail to a local SMTP port with AUTH, and a retrain topic.
fn setup(repeat_interval: &str) -> Setup {
    setup_with(repeat_interval, "")
}

fn setup_with(repeat_interval: &str, retrain_extra: &str) -> Setup {
    let predictions = unique("preds");
    let retrain_topic = unique("retrain");
    create_topic(&predictions, 2);
    create_topic(&retrain_topic, 1);
    let smtp_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("test.toml"), plan_drift_rules()).unwrap();
    let secret = dir.path().join("smtp-password");
    std::fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    let extra = format!(
        r#"
[http.token]
file = "{token}"

[windows]
bucket = "1s"
windows = ["5s"]
tick = "1s"

[alerting]
rules = ["{rules}"]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "{repeat_interval}"
dashboard_url = "http://grafana.example:3000"

[email]
to = ["oncall@example.com", "ml-team@example.com"]
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
training_window = "14d"
source = "/driftd/test"
{retrain_extra}

[outbox]
initial_backoff = "500ms"
max_backoff = "2s"
"#,
        token = {
            let t = dir.path().join("token");
            std::fs::write(&t, "test-token").unwrap();
            t.display().to_string()
        },
        rules = rules_dir.display(),
        secret = secret.display(),
    );
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), &extra);
    // The reference: undrifted synthetic traffic of model churn.
    import_synthetic_reference(&config, "churn", 5000);
    let mail_dir = config.dir.path().join("mail");
    std::fs::create_dir(&mail_dir).unwrap();
    // Keep the rules and secret files alive with the config's directory.
    std::mem::forget(dir);
    Setup {
        config,
        retrain_topic,
        smtp_port,
        mail_dir,
        predictions,
    }
}

fn alerts(daemon: &Daemon) -> Value {
    let (status, body) = http_get(daemon.port, "/api/v1/alerts").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits for `done`, failing with `what` and the daemon's log at the timeout.
fn expect_within(what: &str, timeout: Duration, daemon: &Daemon, done: impl FnMut() -> bool) {
    assert!(
        wait_until(timeout, Duration::from_millis(200), done),
        "timed out waiting for {what}; log:\n{}",
        daemon.log_text()
    );
}

fn series(m: &Metrics, name: &str, label: &str) -> f64 {
    m.0.iter()
        .filter(|(k, _)| k.starts_with(name) && k.contains(label))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn drift_emails_once_per_repeat_interval_resolves_and_retrains_once_per_cooldown() {
    let s = setup("8s");
    let smtp = SmtpSink::start(s.smtp_port, &s.mail_dir, PASSWORD);
    let daemon = Daemon::start(&s.config, "run.log");
    let traffic = Traffic::start(&s.predictions, "churn");

    // Undrifted traffic: no alert.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        alerts(&daemon)["alerts"].as_array().unwrap().len(),
        0,
        "{}",
        daemon.log_text()
    );

    // Drift: pending, then firing after `for`, then the first e-mail.
    traffic.set_drift(true);
    let mut saw_pending = false;
    expect_within("a firing alert", Duration::from_secs(30), &daemon, || {
        let a = alerts(&daemon);
        let state = a["alerts"][0]["state"].as_str().unwrap_or("").to_string();
        saw_pending |= state == "pending";
        state == "firing"
    });
    assert!(
        saw_pending,
        "the alert was pending before it fired (for = 2s)"
    );
    let firing_since = Instant::now();
    let a = alerts(&daemon);
    assert_eq!(a["alerts"][0]["labels"]["alertname"], "PlanDrift");
    assert_eq!(a["alerts"][0]["labels"]["feature"], "plan");
    let m = daemon.metrics();
    assert_eq!(
        m.get(r#"driftd_alerts{alertname="PlanDrift",alertstate="firing",deployment="",feature="plan",model="churn",segment="",severity="critical",version="",window="5s"}"#),
        Some(1.0),
        "ALERTS-like series"
    );

    // Firing for ~20 s with repeat_interval 8s.
    while firing_since.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
    }
    // Recovery: the 5 s window fills with undrifted traffic.
    traffic.set_drift(false);
    expect_within(
        "a resolved e-mail",
        Duration::from_secs(40),
        &daemon,
        || {
            SmtpSink::mails(&s.mail_dir)
                .iter()
                .any(|m| m.subject.starts_with("[RESOLVED]"))
        },
    );
    // A second episode within the cooldown: e-mailed, but no second retraining event.
    traffic.set_drift(true);
    let before = SmtpSink::mails(&s.mail_dir).len();
    let mails = SmtpSink::wait_mails(&s.mail_dir, before + 1, Duration::from_secs(30));
    traffic.set_drift(false);
    drop(traffic);

    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    let resolved_at = subjects
        .iter()
        .position(|s| s.starts_with("[RESOLVED]"))
        .unwrap();
    assert!(
        resolved_at >= 2,
        "a first e-mail and at least one repeat: {subjects:?}"
    );
    for s in &subjects[..resolved_at] {
        assert_eq!(*s, "[FIRING:1] churn: PlanDrift", "{subjects:?}");
    }
    assert_eq!(subjects[resolved_at], "[RESOLVED] churn: PlanDrift");
    assert_eq!(
        subjects[resolved_at + 1],
        "[FIRING:1] churn: PlanDrift",
        "{subjects:?}"
    );
    assert_eq!(subjects.len(), resolved_at + 2, "{subjects:?}");
    // One e-mail per repeat interval: consecutive FIRING e-mails of the first episode
    // are 8 s apart, give or take one group interval (2 s) and a tick.
    for pair in mails[..resolved_at].windows(2) {
        let gap = pair[1].received_ms - pair[0].received_ms;
        assert!(
            (7_500..=11_500).contains(&gap),
            "gap {gap} ms: {subjects:?}"
        );
    }
    // And no repeat was skipped at the end: the resolved e-mail follows the last
    // FIRING one within a repeat interval plus the time the 5 s window takes to drain.
    let tail = mails[resolved_at].received_ms - mails[resolved_at - 1].received_ms;
    assert!(tail <= 8_000 + 8_000, "{tail} ms: {subjects:?}");

    // The e-mail: multipart text + HTML, evidence, link, stable Message-ID, both recipients.
    let first = &mails[0];
    assert_eq!(first.content_type, "multipart/alternative");
    assert!(
        first.message_id.ends_with("@driftd>"),
        "{}",
        first.message_id
    );
    assert_eq!(first.to, vec!["oncall@example.com", "ml-team@example.com"]);
    for needle in [
        "PlanDrift",
        "plan",
        "psi",
        "critical",
        "5s",
        "threshold",
        "0.2",
        "http://grafana.example:3000/d/driftd-model/driftd-model?var-model=churn",
    ] {
        assert!(
            first.text.contains(needle),
            "text lacks {needle}: {}",
            first.text
        );
        assert!(
            first.html.contains(needle),
            "html lacks {needle}: {}",
            first.html
        );
    }
    assert!(first.html.contains("<table"), "{}", first.html);
    // Charts: the plan's distribution in the window and its PSI over the last hours,
    // inline PNGs that decode at the size the HTML states and that it names by cid;
    // the text part has the sparkline instead.
    assert_eq!(
        first.parts[..3],
        ["multipart/alternative", "text/plain", "multipart/related"],
        "{:?}",
        first.parts
    );
    assert_eq!(first.inline.len(), 2, "{:?}", first.parts);
    let mut image_bytes = 0;
    for (cid, content_type, disposition, bytes) in &first.inline {
        assert_eq!(
            (content_type.as_str(), disposition.as_str()),
            ("image/png", "inline")
        );
        assert!(
            first.html.contains(&format!("src=\"cid:{cid}\"")),
            "{cid}: {}",
            first.html
        );
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(frame.width, 420, "{cid}");
        assert!(
            first.html.contains(&format!(
                "width=\"{}\" height=\"{}\"",
                frame.width, frame.height
            )),
            "{}",
            first.html
        );
        // Drawn, not blank: more than the background colour.
        let colours: std::collections::BTreeSet<&[u8]> =
            pixels[..frame.buffer_size()].chunks(4).collect();
        assert!(colours.len() > 10, "{cid}: {} colours", colours.len());
        image_bytes += bytes.len();
    }
    assert!(image_bytes <= 60_000, "{image_bytes} bytes of images");
    assert!(first.text.contains("plan psi per "), "{}", first.text);
    assert!(
        first.text.chars().any(|c| ('▁'..='█').contains(&c)),
        "{}",
        first.text
    );
    let ids: std::collections::BTreeSet<&str> =
        mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        mails.len(),
        "each notification has its own Message-ID"
    );

    // Exactly one retraining event: the second episode was within the cooldown.
    let events = read_keyed(&s.retrain_topic, 1, Duration::from_secs(15));
    assert_eq!(events.len(), 1, "one event per cooldown");
    let e = &events[0];
    assert_eq!(e.key.as_deref(), Some(&b"churn"[..]), "keyed by model");
    assert!(e.headers["content-type"].starts_with("application/cloudevents+json"));
    let ce: Value = serde_json::from_slice(&e.payload).unwrap();
    assert_cloud_event(&ce);
    assert_eq!(ce["subject"], "churn");
    assert_eq!(ce["source"], "/driftd/test");
    assert_eq!(ce["data"]["trigger"], "drift");
    assert_eq!(ce["data"]["rule"], "PlanDrift");
    assert_eq!(ce["data"]["evidence"][0]["feature"], "plan");
    assert!(ce["data"]["evidence"][0]["value"].as_f64().unwrap() > 0.2);
    let window = &ce["data"]["training_window"];
    let start = chrono::DateTime::parse_from_rfc3339(window["start"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(window["end"].as_str().unwrap()).unwrap();
    assert_eq!((end - start).num_days(), 14, "training_window = 14d");
    let m = daemon.metrics();
    assert_eq!(
        series(&m, "driftd_retrain_requests_total", r#"result="emitted""#),
        1.0
    );
    assert_eq!(
        series(
            &m,
            "driftd_retrain_requests_total",
            r#"result="suppressed""#
        ),
        1.0
    );
    assert_eq!(series(&m, "driftd_outbox_pending", ""), 0.0);
    assert!(series(&m, "driftd_email_charts_total", r#"result="attached""#) >= 1.0);
    assert_eq!(
        series(&m, "driftd_email_charts_total", r#"result="omitted""#),
        0.0
    );
    let log = daemon.log_text();
    for event in [
        "alert state changed",
        "alert e-mail sent",
        "retraining event produced",
        "retraining request suppressed by the cooldown",
    ] {
        assert!(log.contains(event), "log lacks `{event}`:\n{log}");
    }
    smtp.stop();
}

/// CloudEvents 1.0, structured mode: the required attributes and JSON data.
fn assert_cloud_event(ce: &Value) {
    assert_eq!(ce["specversion"], "1.0");
    for attr in ["id", "source", "type"] {
        assert!(
            ce[attr].as_str().is_some_and(|s| !s.is_empty()),
            "required attribute {attr}: {ce}"
        );
    }
    assert_eq!(ce["type"], "io.driftd.retrain.requested");
    assert_eq!(ce["datacontenttype"], "application/json");
    chrono::DateTime::parse_from_rfc3339(ce["time"].as_str().unwrap()).expect("RFC 3339 time");
    assert!(ce["data"].is_object());
}

#[test]
fn smtp_outage_delays_the_email_and_a_sigkill_after_the_outbox_write_loses_nothing() {
    let s = setup("1h");
    // SMTP is down from the start.
    let daemon = Daemon::start(&s.config, "run.log");
    let traffic = Traffic::start(&s.predictions, "churn");
    traffic.set_drift(true);
    expect_within(
        "the e-mail in the outbox, failing",
        Duration::from_secs(40),
        &daemon,
        || {
            let m = daemon.metrics();
            m.get(r#"driftd_outbox_pending{kind="email"}"#) == Some(1.0)
                && m.get(r#"driftd_outbox_deliveries_total{kind="email",result="failed"}"#)
                    .is_some_and(|v| v >= 1.0)
        },
    );
    let down_since = Instant::now();
    while down_since.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            daemon
                .metrics()
                .get(r#"driftd_outbox_pending{kind="email"}"#),
            Some(1.0),
            "kept while SMTP is down"
        );
    }
    assert!(SmtpSink::mails(&s.mail_dir).is_empty());
    let smtp = SmtpSink::start(s.smtp_port, &s.mail_dir, PASSWORD);
    let mails = SmtpSink::wait_mails(&s.mail_dir, 1, Duration::from_secs(20));
    assert_eq!(mails.len(), 1, "{}", daemon.log_text());
    assert_eq!(mails[0].subject, "[FIRING:1] churn: PlanDrift");
    expect_within("an empty outbox", Duration::from_secs(10), &daemon, || {
        daemon
            .metrics()
            .get(r#"driftd_outbox_pending{kind="email"}"#)
            == Some(0.0)
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(SmtpSink::mails(&s.mail_dir).len(), 1, "delivered once");

    // SMTP down again; recovery queues the resolved e-mail; SIGKILL right after the
    // outbox write.
    smtp.stop();
    traffic.set_drift(false);
    expect_within(
        "the resolved e-mail in the outbox",
        Duration::from_secs(40),
        &daemon,
        || {
            daemon
                .metrics()
                .get(r#"driftd_outbox_pending{kind="email"}"#)
                == Some(1.0)
        },
    );
    drop(traffic);
    daemon.sigkill();
    let smtp = SmtpSink::start(s.smtp_port, &s.mail_dir, PASSWORD);
    let daemon = Daemon::start(&s.config, "restart.log");
    let mails = SmtpSink::wait_mails(&s.mail_dir, 2, Duration::from_secs(20));
    assert_eq!(mails.len(), 2, "{}", daemon.log_text());
    assert_eq!(mails[1].subject, "[RESOLVED] churn: PlanDrift");
    std::thread::sleep(Duration::from_secs(5));
    let mails = SmtpSink::mails(&s.mail_dir);
    assert_eq!(
        mails.len(),
        2,
        "nothing re-sent after the restart: {:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    // The retraining event was produced once, before the kill, and not again after it.
    assert_eq!(
        read_keyed(&s.retrain_topic, 1, Duration::from_secs(10)).len(),
        1
    );
    smtp.stop();
}

#[test]
fn manual_retraining_and_rule_reload_through_the_api() {
    let (hook_port, hook) = webhook_server("127.0.0.1:0", 500);
    let s = setup_with(
        "1h",
        &format!("webhook_url = \"http://127.0.0.1:{hook_port}/hooks/retrain\"\nwebhook_token = {{ file = \"{}\" }}", {
            let dir = tempfile::tempdir().unwrap().keep();
            let t = dir.join("hook-token");
            std::fs::write(&t, "hook-secret\n").unwrap();
            t.display().to_string()
        }),
    );
    let daemon = Daemon::start(&s.config, "run.log");
    let cfg = s.config.path.to_str().unwrap();
    let port = daemon.port;
    let body = r#"{"reason": "new labelled data"}"#;
    let json = ("Content-Type", "application/json");

    // Mutating endpoints need the bearer token.
    let (status, _) =
        http_request(port, "POST", "/api/v1/models/churn/retrain", &[json], body).unwrap();
    assert_eq!(status, 401);
    // The token is checked before the body: without a JSON content type too (a JSON
    // extractor answered 415 here, before authenticating).
    let (status, _) =
        http_request(port, "POST", "/api/v1/models/churn/retrain", &[], body).unwrap();
    assert_eq!(status, 401);
    let (status, _) = http_request(
        port,
        "POST",
        "/-/reload",
        &[("Authorization", "Bearer wrong")],
        "",
    )
    .unwrap();
    assert_eq!(status, 401);

    // `driftd retrain` posts with the configured token; the second request is within
    // the cooldown.
    let out = driftd([
        "retrain",
        "--model",
        "churn",
        "--reason",
        "new labelled data",
        "--config",
        cfg,
    ]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["status"], "emitted");
    assert_cloud_event(&answer["event"]);
    assert_eq!(answer["event"]["data"]["trigger"], "manual");
    assert_eq!(answer["event"]["data"]["reason"], "new labelled data");
    let auth = ("Authorization", "Bearer test-token");
    let (status, text) = http_request(
        port,
        "POST",
        "/api/v1/models/churn/retrain",
        &[json, auth],
        body,
    )
    .unwrap();
    assert_eq!(status, 429, "{text}");
    let events = read_keyed(&s.retrain_topic, 1, Duration::from_secs(15));
    assert_eq!(events.len(), 1);
    let ce: Value = serde_json::from_slice(&events[0].payload).unwrap();
    assert_eq!(ce["id"], answer["event"]["id"]);
    // The webhook got the same CloudEvent: refused once (500), delivered on the retry,
    // and not again.
    expect_within(
        "the webhook retry",
        Duration::from_secs(15),
        &daemon,
        || hook.lock().unwrap().len() >= 2,
    );
    std::thread::sleep(Duration::from_secs(3));
    let calls = hook.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0].0, calls[1].0), (500, 200));
    assert_eq!(calls[1].1, "Bearer hook-secret");
    let posted: Value = serde_json::from_str(&calls[1].2).unwrap();
    assert_eq!(posted, ce, "the same event as on Kafka");
    assert_eq!(
        daemon
            .metrics()
            .get(r#"driftd_outbox_deliveries_total{kind="webhook",result="failed"}"#),
        Some(1.0)
    );

    // A broken rule file keeps the running rules and says why (API, metric).
    let rules: Value = serde_json::from_str(&http_get(port, "/api/v1/rules").unwrap().1).unwrap();
    let path = rules["rules"][0]["file"].as_str().unwrap().to_string();
    std::fs::write(
        &path,
        plan_drift_rules().replace("metric = \"psi\"", "metric = \"psy\""),
    )
    .unwrap();
    let (status, text) = http_request(port, "POST", "/-/reload", &[auth], "").unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("unknown metric `psy`"), "{text}");
    let rules: Value = serde_json::from_str(&http_get(port, "/api/v1/rules").unwrap().1).unwrap();
    assert_eq!(
        rules["rules"][0]["name"], "PlanDrift",
        "the old rule still runs"
    );
    assert!(rules["last_reload_error"].as_str().unwrap().contains("psy"));
    assert_eq!(
        daemon.metrics().get("driftd_rules_last_reload_successful"),
        Some(0.0)
    );
    // Fixed, with a second rule: reloaded.
    let two = format!(
        "{}\n{}",
        plan_drift_rules(),
        plan_drift_rules().replace("PlanDrift", "PlanDrift2")
    );
    std::fs::write(&path, two).unwrap();
    let (status, text) = http_request(port, "POST", "/-/reload", &[auth], "").unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(daemon.metrics().get("driftd_rules_loaded"), Some(2.0));
    assert_eq!(
        daemon.metrics().get("driftd_rules_last_reload_successful"),
        Some(1.0)
    );
    // SIGHUP reloads the rules too.
    std::fs::write(&path, plan_drift_rules()).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    expect_within(
        "one rule after SIGHUP",
        Duration::from_secs(10),
        &daemon,
        || daemon.metrics().get("driftd_rules_loaded") == Some(1.0),
    );
}

#[test]
fn a_silence_stops_the_emails_survives_a_restart_and_lifting_it_resumes_them() {
    // The notifications also go to a webhook in Alertmanager's format.
    let (hook_port, hook) = webhook_server("127.0.0.1:0", 500);
    let token_file = tempfile::tempdir().unwrap().keep().join("hook-token");
    std::fs::write(&token_file, "alert-hook-secret\n").unwrap();
    let s = setup_with(
        "4s",
        &format!(
            "\n[webhook]\nurl = \"http://127.0.0.1:{hook_port}/alerts\"\ntoken = {{ file = \"{}\" }}\n",
            token_file.display()
        ),
    );
    let smtp = SmtpSink::start(s.smtp_port, &s.mail_dir, PASSWORD);
    let mut daemon = Daemon::start(&s.config, "run.log");
    let traffic = Traffic::start(&s.predictions, "churn");
    traffic.set_drift(true);
    SmtpSink::wait_mails(&s.mail_dir, 1, Duration::from_secs(40));
    let port = daemon.port;
    let auth = ("Authorization", "Bearer test-token");
    let json = ("Content-Type", "application/json");
    // The webhook: refused once (500), delivered on the retry, in Alertmanager's shape.
    expect_within(
        "the alert webhook",
        Duration::from_secs(20),
        &daemon,
        || hook.lock().unwrap().iter().any(|c| c.0 == 200),
    );
    let (_, auth_seen, payload) = hook.lock().unwrap()[1].clone();
    assert_eq!(auth_seen, "Bearer alert-hook-secret");
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["version"], "4");
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["groupLabels"]["model"], "churn");
    assert_eq!(payload["alerts"][0]["labels"]["alertname"], "PlanDrift");
    assert_eq!(payload["alerts"][0]["status"], "firing");

    // Silence churn's plan alerts: needs the token, names a bad matcher.
    let body = r#"{"matchers": ["model=churn", "feature=~pl.*"], "duration": "1h",
                   "created_by": "ops", "comment": "planned migration"}"#;
    let (status, _) = http_request(port, "POST", "/api/v1/silences", &[json], body).unwrap();
    assert_eq!(status, 401);
    let bad = body.replace("model=churn", "model<churn");
    let (status, text) =
        http_request(port, "POST", "/api/v1/silences", &[json, auth], &bad).unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("model<churn"), "{text}");
    let (status, text) =
        http_request(port, "POST", "/api/v1/silences", &[json, auth], body).unwrap();
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_within(
        "the alert suppressed",
        Duration::from_secs(10),
        &daemon,
        || alerts(&daemon)["alerts"][0]["suppressed"] == true,
    );
    // Repeats would come every 4 s: none while silenced.
    std::thread::sleep(Duration::from_secs(3));
    let before = SmtpSink::mails(&s.mail_dir).len();
    let hooks_before = hook.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        SmtpSink::mails(&s.mail_dir).len(),
        before,
        "an e-mail while silenced"
    );
    assert_eq!(
        hook.lock().unwrap().len(),
        hooks_before,
        "a webhook while silenced"
    );

    // The silence is in the store: after a restart it is listed and still holds.
    assert!(daemon.sigterm().success());
    daemon = Daemon::start(&s.config, "run2.log");
    let listed = driftd([
        "silence",
        "list",
        "--config",
        s.config.path.to_str().unwrap(),
    ]);
    assert!(
        listed.contains(&id) && listed.contains("active") && listed.contains("planned migration"),
        "{listed}"
    );
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        SmtpSink::mails(&s.mail_dir).len(),
        before,
        "an e-mail while silenced"
    );

    // Lifted with the CLI: e-mails resume.
    let out = driftd([
        "silence",
        "expire",
        &id,
        "--config",
        s.config.path.to_str().unwrap(),
    ]);
    assert!(out.contains(&id), "{out}");
    let mails = SmtpSink::wait_mails(&s.mail_dir, before + 1, Duration::from_secs(20));
    assert!(mails.len() > before, "no e-mail after the silence ended");
    assert_eq!(mails[before].subject, "[FIRING:1] churn: PlanDrift");
    let (_, text) = http_get(daemon.port, "/api/v1/silences").unwrap();
    assert!(text.contains("\"expired\""), "{text}");
    drop(traffic);
    drop(daemon);
    smtp.stop();
}
