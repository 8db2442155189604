//! The command line without services: `config check`, `--version`, and JSON-lines
//! replay into the store.

mod common;

use std::process::Command;

use common::{driftd, driftd_bin, driftd_json, run_driftd};

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn config_check_accepts_the_example() {
    let example = repo_file("docs/driftd.example.toml");
    let out = driftd([
        "config".as_ref(),
        "check".as_ref(),
        "--config".as_ref(),
        example.as_os_str(),
    ]);
    assert!(out.contains("ok"), "{out}");
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
    let out = run_driftd([
        "config".as_ref(),
        "check".as_ref(),
        "--config".as_ref(),
        path.as_os_str(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group_idd"), "{err}");
    assert!(err.contains(&format!("line {line}")), "{err}");
}

#[test]
fn version_and_help() {
    assert!(driftd(["--version"]).contains(env!("CARGO_PKG_VERSION")));
    let help = driftd(["--help"]);
    for cmd in ["run", "config", "state", "generate"] {
        assert!(help.contains(cmd), "{help}");
    }
}

/// A config in `dir` with its store there too, plus `extra` TOML.
fn config_in(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("driftd.toml");
    let store = dir.join("store");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n{extra}", store.display()),
    )
    .unwrap();
    config
}

#[test]
fn replay_counts_lines_and_reports_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        "[[source]]\ntopic = \"p\"\nrole = \"predictions\"\n",
    );
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
        driftd([
            "run".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--input".as_ref(),
            input.as_os_str(),
            "--dead-letter".as_ref(),
            dead.as_os_str(),
        ]);
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

#[test]
fn reference_import_show_list_versions_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        "[profile]\nresolution = 100\npsi_bins = 5\n[profile.kinds]\nzip = \"categorical\"\n",
    );
    let csv = |name: &str, rows: usize| {
        let p = dir.path().join(name);
        let mut s = String::from("age,plan,zip\n");
        for i in 0..rows {
            s.push_str(&format!(
                "{},{},{}\n",
                20 + i % 50,
                ["a", "b", "c"][i % 3],
                1000 + i % 7
            ));
        }
        std::fs::write(&p, s).unwrap();
        p
    };
    let first = csv("first.csv", 300);
    let second = csv("second.csv", 600);
    let cfg = config.to_str().unwrap();
    let with_config = |args: &[&str]| common::driftd([args, &["--config", cfg]].concat());
    for file in [&first, &second] {
        let out = with_config(&[
            "reference",
            "import",
            "--model",
            "churn",
            "--version",
            "v7",
            "--file",
            file.to_str().unwrap(),
        ]);
        assert!(out.contains("imported churn@v7"), "{out}");
    }
    let list = with_config(&["reference", "list"]);
    assert_eq!(
        list.lines().filter(|l| l.starts_with("churn")).count(),
        2,
        "{list}"
    );

    let show = driftd_json(["reference", "show", "churn", "--config", cfg]);
    assert_eq!(show["rows"], 600, "newest profile wins");
    assert_eq!(show["resolution"], 100);
    let features = show["features"].as_array().unwrap();
    assert_eq!(features[0]["kind"], "numeric");
    assert_eq!(features[0]["psi_edges"].as_array().unwrap().len(), 4);
    assert_eq!(features[0]["min"], 20.0);
    assert_eq!(
        features[2]["kind"], "categorical",
        "kind override from config"
    );
    assert_eq!(features[2]["categories"].as_array().unwrap().len(), 7);
    assert!(show["source_checksum"].as_str().unwrap().len() == 16);

    let out = run_driftd(["reference", "show", "nosuch", "--config", cfg]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no reference profile"));
}

#[test]
fn capture_freezes_a_window_as_the_new_reference() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        "[[source]]\ntopic = \"p\"\nrole = \"predictions\"\n",
    );
    let cfg = config.to_str().unwrap();
    let reference = dir.path().join("ref.csv");
    let rows: String = (0..1000).map(|i| format!("{}\n", i % 100)).collect();
    std::fs::write(&reference, format!("x\n{rows}")).unwrap();
    common::driftd([
        "reference",
        "import",
        "--model",
        "m",
        "--file",
        reference.to_str().unwrap(),
        "--config",
        cfg,
    ]);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lines: String = (0..200)
        .map(|i| {
            format!(
                "{{\"model\":\"m\",\"model_version\":\"v1\",\"ts\":{},\"features\":{{\"x\":{}}}}}\n",
                now - 1_800_000 + i * 1000,
                50 + i % 50
            )
        })
        .collect();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines).unwrap();
    common::driftd(["run", "--config", cfg, "--input", input.to_str().unwrap()]);

    let from = (now - 1_900_000).to_string();
    let to = now.to_string();
    let out = common::driftd([
        "reference",
        "capture",
        "--model",
        "m",
        "--from",
        &from,
        "--to",
        &to,
        "--config",
        cfg,
    ]);
    assert!(
        out.contains("captured m@unversioned#capture-") && out.contains("200 events"),
        "{out}"
    );
    let full = driftd_json(["reference", "show", "m", "--full", "--config", cfg]);
    assert_eq!(full["rows"], 200);
    assert!(full["source"].as_str().unwrap().starts_with("capture:"));
    let counts: u64 = full["features"][0]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(
        counts, 200,
        "the captured window's counts, in the profile's bins"
    );

    let out = run_driftd([
        "reference",
        "capture",
        "--model",
        "m",
        "--from",
        &to,
        "--to",
        &(now + 1000).to_string(),
        "--config",
        cfg,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no events"));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        "[[source]]\ntopic = \"p\"\nrole = \"predictions\"\n",
    );
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"model\":\"m\"}\n{broken\n").unwrap();
    let out = Command::new(driftd_bin())
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events
        .iter()
        .any(|e| e["level"] == "WARN" && e["fields"]["reason"] == "invalid_json"));
    assert!(events
        .iter()
        .any(|e| e["fields"]["message"] == "replay done"));
}
