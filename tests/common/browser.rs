//! A page opened in the real headless Chromium (Debian's `chromium`, driven by
//! Playwright in the test venv: scripts/browser_check.py), and what a reader sees.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where screenshots go: kept under target/ as CI artifacts.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `url` (light or dark colour scheme), screenshots it to `shot`, and returns
/// the script's observations (console, page errors, requests, sections, filter).
pub fn open_in_chromium(url: &str, shot: &Path, dark: bool) -> Value {
    open_in_chromium_with(url, shot, dark, None)
}

/// As [`open_in_chromium`], also screenshotting the first screen (1200×900) to `top`.
pub fn open_in_chromium_with(url: &str, shot: &Path, dark: bool, top: Option<&Path>) -> Value {
    let python = std::env::var("DRIFTD_PYTHON")
        .expect("DRIFTD_PYTHON is not set: run scripts/test.sh, which installs Playwright");
    let chromium = std::env::var("DRIFTD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut cmd = Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/browser_check.py"
    ))
    .arg(url)
    .arg("--screenshot")
    .arg(shot)
    .args(["--chromium", &chromium]);
    if dark {
        cmd.arg("--dark");
    }
    if let Some(top) = top {
        cmd.arg("--top").arg(top);
    }
    let out = cmd.output().expect("run scripts/browser_check.py");
    assert!(
        out.status.success(),
        "browser_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sections of one verdict, by name, in page order.
pub fn sections_with(seen: &Value, verdict: &str) -> Vec<String> {
    seen["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == verdict)
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// The charts of a section: (aria-label, drawn width, drawn height, marks).
pub fn charts_of(seen: &Value, feature: &str) -> Vec<(String, f64, f64, u64)> {
    let section = seen["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == feature)
        .unwrap_or_else(|| panic!("no section {feature}: {seen}"));
    section["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["label"].as_str().unwrap_or_default().to_string(),
                c["width"].as_f64().unwrap(),
                c["height"].as_f64().unwrap(),
                c["marks"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Console messages of type `error` and uncaught page errors: none is right.
pub fn errors(seen: &Value) -> Vec<String> {
    seen["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "error")
        .map(|m| m["text"].to_string())
        .chain(
            seen["page_errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.to_string()),
        )
        .collect()
}
