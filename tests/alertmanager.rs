//! Alerts pushed into a real Alertmanager (Debian's `prometheus-alertmanager`, started
//! once by scripts/test.sh and shared: `DRIFTD_TEST_ALERTMANAGER`): a drift fires → the
//! alert is in Alertmanager's API with its labels, rendered annotations, generatorURL
//! and a lease; the drift stops → the alert resolves in Alertmanager.

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
