//! The command line without services: `config check`, `--version`, and JSON-lines
//! replay into the store.

mod common;

use std::process::Command;

use common::driftd_bin;

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn config_check_accepts_the_example() {
    let out = Command::new(driftd_bin())
        .args(["config", "check", "--config"])
        .arg(repo_file("docs/driftd.example.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn config_check_names_misspelt_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let example = std::fs::read_to_string(repo_file("docs/driftd.example.toml")).unwrap();
    let bad = example.replacen("group_id = ", "group_idd = ", 1);
    let line = bad
        .lines()
        .position(|l| l.starts_with("group_idd"))
        .unwrap()
        + 1;
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(driftd_bin())
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group_idd"), "{err}");
    assert!(err.contains(&format!("line {line}")), "{err}");
}

#[test]
fn version_and_help() {
    let out = Command::new(driftd_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(driftd_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "config", "state", "generate"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn replay_counts_lines_and_reports_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftd.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[[source]]\ntopic = \"p\"\nrole = \"predictions\"\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = String::new();
    for i in 0..250 {
        text.push_str(&format!(
            "{{\"model\":\"m{}\",\"model_version\":\"v1\",\"id\":\"{i}\"}}\n",
            i % 2
        ));
    }
    text.push_str("{broken\n\n[1]\n{\"model\":\"m0\",\"features\":3}\n");
    std::fs::write(&input, text).unwrap();
    let dead = dir.path().join("dead.jsonl");

    for _ in 0..2 {
        let out = Command::new(driftd_bin())
            .args(["run", "--config"])
            .arg(&config)
            .arg("--input")
            .arg(&input)
            .arg("--dead-letter")
            .arg(&dead)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Two replays of the same file add up: a replay is a backfill, not a seek.
    let counts = common::state_counts(&config);
    assert_eq!(counts[&("m0".to_string(), "v1".to_string())], 250);
    assert_eq!(counts[&("m1".to_string(), "v1".to_string())], 250);
    let rejects: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reasons: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["invalid_json", "not_object", "wrong_type"]);
    assert_eq!(rejects[0]["line"], 251);
}
