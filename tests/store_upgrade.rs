//! A store written by the previous driftd (schema version 1: JSON buckets and join
//! entries, no expiry index; tests/fixtures/store-v1, made by its make.py with commit
//! b9faae7's binary) is upgraded in place on open: today's driftd reads the same state
//! the old one printed, joins the labels and predictions that waited in it, and ends
//! where the old driftd ended on the same input.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/store-v1")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn json_file(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// `state show --buckets` without what schema version 1's driftd did not print.
fn shown(config: &Path) -> (Value, u64) {
    let mut v = state_with_buckets(config);
    let waiting = v["joins_waiting"].as_u64().expect("joins_waiting");
    v.as_object_mut().unwrap().remove("joins_waiting");
    (v, waiting)
}

/// (model, id) of every line of a JSON-lines input.
fn ids(names: &[&str]) -> BTreeSet<(String, String)> {
    names
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(fixture(n))
                .unwrap()
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    (
                        v["model"].as_str().unwrap().to_string(),
                        v["id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn waiting(predictions: &[&str], labels: &[&str]) -> u64 {
    let (p, l) = (ids(predictions), ids(labels));
    p.symmetric_difference(&l).count() as u64
}

#[test]
fn a_schema_1_store_is_upgraded_and_continues_where_the_old_driftd_would() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    copy_dir(&fixture("store"), &store);
    let config = dir.path().join("driftd.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n\n{}",
            store.display(),
            std::fs::read_to_string(fixture("config.toml")).unwrap()
        ),
    )
    .unwrap();

    let (before, waiting_before) = shown(&config);
    assert_eq!(
        before,
        json_file("before.json"),
        "the upgraded store reads as the old one did"
    );
    let expected = waiting(&["predictions.jsonl"], &["labels-1.jsonl"]);
    assert!(
        expected > 100,
        "the fixture has predictions and labels waiting: {expected}"
    );
    assert_eq!(
        waiting_before, expected,
        "the join count built by the upgrade"
    );

    assert!(store.join("state.redb").is_file(), "the new store file");
    assert!(
        store.join("schema-1-sled/db").is_file() && !store.join("db").exists(),
        "sled's files moved aside, kept as a backup"
    );
    // Opened again: already version 2, read as such (no second upgrade).
    assert_eq!(shown(&config).0, before);

    let c = config.to_str().unwrap();
    driftd([
        "run",
        "--config",
        c,
        "--input",
        fixture("more.jsonl").to_str().unwrap(),
    ]);
    driftd([
        "run",
        "--config",
        c,
        "--input",
        fixture("labels-2.jsonl").to_str().unwrap(),
        "--role",
        "labels",
    ]);
    let (after, waiting_after) = shown(&config);
    assert_eq!(
        after,
        json_file("after.json"),
        "the waiting entries joined as the old driftd joined them"
    );
    assert_eq!(
        waiting_after,
        waiting(
            &["predictions.jsonl", "more.jsonl"],
            &["labels-1.jsonl", "labels-2.jsonl"]
        )
    );
}
