//! The HTML report in a real headless Chromium: `driftd report --format html` of a
//! drifted and a stable dataset, and the same page for a live window from a running
//! daemon (`GET /api/v1/models/{m}/report`, `driftd report --model`). What a reader
//! needs is checked in the rendered page: the title, the drifted features first with
//! their charts drawn, the filter, no console errors and no request but the page's
//! own. Screenshots stay in target/screenshots (CI artifacts).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use driftd::base::rng::SplitMix;
use serde_json::Value;

const PLANS: [&str; 3] = ["free", "basic", "pro"];

/// `rows` rows of amount (log-normal), age (normal), plan and score (uniform); with
/// `drift`, amounts grow by 80 % and the plan mix turns over; age and score never
/// change.
fn dataset(path: &Path, rows: usize, seed: u64, drift: bool) {
    let mut rng = SplitMix::new(seed);
    let mut text = String::from("amount,age,plan,score\n");
    let mix = if drift {
        [0.2, 0.3, 0.5]
    } else {
        [0.5, 0.3, 0.2]
    };
    for _ in 0..rows {
        let amount = (3.0 + rng.normal()).exp() * if drift { 1.8 } else { 1.0 };
        let age = (40.0 + 12.0 * rng.normal()).round();
        let u = rng.uniform();
        let plan = if u < mix[0] {
            PLANS[0]
        } else if u < mix[0] + mix[1] {
            PLANS[1]
        } else {
            PLANS[2]
        };
        let score = rng.uniform();
        text.push_str(&format!("{amount:.3},{age},{plan},{score:.5}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn report(args: &[&str]) -> std::process::Output {
    report_in(Path::new("."), args)
}

/// `driftd report` run in `dir` (the page names the files as given: short names).
fn report_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_driftd"))
        .arg("report")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 10_000 && b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

/// WCAG relative luminance of `rgb(r, g, b)`: 0 (black) to 1 (white).
fn luminance(css: &Value) -> f64 {
    let v: Vec<f64> = css
        .as_str()
        .unwrap()
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .map(|x| {
            let c = x.trim().parse::<f64>().unwrap() / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
}

/// WCAG contrast ratio of the page's text on its background (7 is level AAA).
fn contrast(seen: &Value) -> f64 {
    let (bg, fg) = (
        luminance(&seen["background"]),
        luminance(&seen["text_color"]),
    );
    (bg.max(fg) + 0.05) / (bg.min(fg) + 0.05)
}

/// The drifted features from the JSON report, worst first (PSI over threshold).
fn drifted_worst_first(json: &Value) -> Vec<String> {
    let mut d: Vec<(f64, String)> = json["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| {
            (
                f["psi"].as_f64().unwrap() / f["threshold"].as_f64().unwrap(),
                f["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    d.sort_by(|a, b| b.0.total_cmp(&a.0));
    d.into_iter().map(|x| x.1).collect()
}

#[test]
fn the_report_of_two_files_reads_in_chromium_light_and_dark() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, drifted, stable) = (
        dir.path().join("reference.csv"),
        dir.path().join("drifted.csv"),
        dir.path().join("stable.csv"),
    );
    dataset(&reference, 20_000, 1, false);
    dataset(&drifted, 10_000, 2, true);
    dataset(&stable, 10_000, 3, false);
    let shots = screenshot_dir();

    for (current, name) in [(&drifted, "drifted"), (&stable, "stable")] {
        let page = dir.path().join(format!("{name}.html"));
        let r = "reference.csv";
        let c = current.file_name().unwrap().to_str().unwrap();
        let out = report_in(
            dir.path(),
            &[
                "--reference",
                r,
                "--current",
                c,
                "--format",
                "html",
                "--output",
                page.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "--output writes the file, not stdout"
        );
        let json: Value = serde_json::from_slice(
            &report_in(
                dir.path(),
                &["--reference", r, "--current", c, "--format", "json"],
            )
            .stdout,
        )
        .unwrap();
        let expected = drifted_worst_first(&json);
        if name == "drifted" {
            let mut names = expected.clone();
            names.sort();
            assert_eq!(
                names,
                ["amount", "plan"],
                "the data drift is in amount and plan"
            );
        } else {
            assert!(expected.is_empty(), "{json}");
        }

        let url = format!("file://{}", page.display());
        let light = shots.join(format!("report-{name}-light.png"));
        // The first screen of the drifted report is the README's picture (docs/report.png).
        let top = shots.join(format!("report-{name}-top.png"));
        let seen = open_in_chromium_with(&url, &light, false, Some(&top));
        assert_eq!(seen["title"], format!("Drift report: {name}.csv"), "{seen}");
        assert_eq!(
            errors(&seen),
            Vec::<String>::new(),
            "no console or page errors"
        );
        assert_eq!(
            seen["requests"],
            serde_json::json!([url]),
            "the page loads nothing else"
        );
        let summary = seen["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("{} of 4 features drifted", expected.len())),
            "{summary}"
        );
        // Worst first, in the summary and in the page order.
        assert_eq!(sections_with(&seen, "drift"), expected, "{seen}");
        let order: Vec<&str> = seen["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            order[..expected.len()],
            expected,
            "drifted features come first"
        );
        if let [worst, ..] = expected.as_slice() {
            let at = |n: &str| summary.find(n).unwrap();
            assert!(expected.iter().all(|n| at(worst) <= at(n)), "{summary}");
        }
        // Every feature's charts are drawn: a numeric feature has two, a categorical one.
        for feature in ["amount", "age", "plan", "score"] {
            let charts = charts_of(&seen, feature);
            assert_eq!(
                charts.len(),
                if feature == "plan" { 1 } else { 2 },
                "{feature}: {charts:?}"
            );
            for (label, w, h, marks) in &charts {
                assert!(label.starts_with(feature), "{label}");
                assert!(
                    *w >= 300.0 && *h >= 100.0 && *marks >= 3,
                    "{feature}: {charts:?}"
                );
            }
        }
        // The filter shows exactly the drifted features; sorting by name sorts.
        assert_eq!(seen["after_filter"], serde_json::json!(expected), "{seen}");
        assert_eq!(
            seen["sorted_by_name"],
            serde_json::json!(["age", "amount", "plan", "score"])
        );
        assert!(is_png(&light) && is_png(&top), "{}", light.display());
        assert!(luminance(&seen["background"]) > 0.9, "light scheme: {seen}");
        assert!(contrast(&seen) >= 7.0, "text contrast {}", contrast(&seen));

        if name == "drifted" {
            let dark = shots.join("report-drifted-dark.png");
            let seen = open_in_chromium(&url, &dark, true);
            assert_eq!(errors(&seen), Vec::<String>::new());
            assert!(luminance(&seen["background"]) < 0.05, "dark scheme: {seen}");
            assert!(
                contrast(&seen) >= 7.0,
                "dark text contrast {}",
                contrast(&seen)
            );
            assert!(is_png(&dark), "{}", dark.display());
        }
    }
}

#[test]
fn a_live_window_is_the_same_page_from_the_daemon_and_driftd_report_model() {
    let predictions = unique("preds");
    create_topic(&predictions, 2);
    let extra = r#"
[windows]
bucket = "1s"
windows = ["5s", "1m"]
tick = "1s"
"#;
    let config = write_config_with(&predictions, &unique("dlq"), &unique("group"), extra);
    import_synthetic_reference(&config, "churn", 5000);
    let daemon = Daemon::start(&config, "run.log");
    let traffic = Traffic::start(&predictions, "churn");
    traffic.set_drift(true);
    let path = "/api/v1/models/churn/report?window=5s";
    let drifted = wait_until(Duration::from_secs(40), Duration::from_millis(500), || {
        http_get(daemon.port, &format!("{path}&format=json"))
            .and_then(|(status, body)| (status == 200).then_some(body))
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .is_some_and(|r| {
                r["drifted"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|f| f == "plan"))
            })
    });
    assert!(
        drifted,
        "plan drifts in the 5s window:\n{}",
        daemon.log_text()
    );

    // A browser (Accept: text/html) gets the page; the header counts drifted features.
    let (status, head, body) =
        http_exchange(daemon.port, "GET", path, &[("Accept", "text/html,*/*")], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    let count: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("driftd-drifted-features: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    assert!(count >= 1, "{head}");
    assert!(
        body.starts_with("<!DOCTYPE html>"),
        "{}",
        &body[..80.min(body.len())]
    );

    // In Chromium, from the daemon: one request, the plan chart and its PSI history.
    let url = format!("http://127.0.0.1:{}{path}", daemon.port);
    let seen = open_in_chromium(&url, &screenshot_dir().join("report-live.png"), false);
    assert_eq!(errors(&seen), Vec::<String>::new());
    assert_eq!(
        seen["requests"],
        serde_json::json!([url]),
        "the page loads nothing else"
    );
    assert_eq!(seen["title"], "Drift report: model churn, window 5s");
    assert!(
        sections_with(&seen, "drift").contains(&"plan".to_string()),
        "{seen}"
    );
    let charts = charts_of(&seen, "plan");
    let labels: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        labels,
        ["plan: shares per category", "plan: psi over time"],
        "{charts:?}"
    );
    assert!(charts.iter().all(|c| c.3 >= 1), "{charts:?}");

    // The CLI against the running daemon: the same page to a file, JSON, the exit code.
    let c = config.path.to_str().unwrap();
    let page = config.dir.path().join("live.html");
    let out = report(&[
        "--model",
        "churn",
        "--window",
        "5s",
        "--config",
        c,
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("data-name=\"plan\" data-verdict=\"drift\""),
        "{html}"
    );
    let out = report(&[
        "--model", "churn", "--window", "5s", "--config", c, "--format", "json",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["drifted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "plan"),
        "{json}"
    );
    let names: Vec<&str> = json["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"age") && names.contains(&"plan"), "{json}");
    let out = report(&[
        "--model",
        "churn",
        "--window",
        "5s",
        "--config",
        c,
        "--fail-on-drift",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("plan"));
    // A window the daemon does not keep: the error names the ones it does.
    let out = report(&["--model", "churn", "--window", "24h", "--config", c]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown window `24h`; configured: 5s, 1m"),
        "{err}"
    );
    drop(traffic);
    daemon.sigterm();
}
