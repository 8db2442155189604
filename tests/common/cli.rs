//! The driftd binary as a command: run it, assert it succeeded, read its output.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

pub fn driftd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_driftd")
}

/// Runs the driftd binary with these arguments: its output, whatever its status.
pub fn run_driftd<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(driftd_bin()).args(args).output().unwrap()
}

/// Runs the driftd binary with these arguments; panics with stderr on failure,
/// returns stdout.
pub fn driftd<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let shown: Vec<_> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let out = run_driftd(&args);
    assert!(
        out.status.success(),
        "driftd {shown:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// As [`driftd`], and parses stdout as JSON.
pub fn driftd_json<I, S>(args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let text = driftd(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `driftd state show` for a stopped daemon.
pub fn state_show(config: &Path) -> serde_json::Value {
    state_show_with(config, &[])
}

/// `driftd state show --buckets` for a stopped daemon: counts, offsets and every
/// window bucket.
pub fn state_with_buckets(config: &Path) -> serde_json::Value {
    state_show_with(config, &["--buckets"])
}

fn state_show_with(config: &Path, flags: &[&str]) -> serde_json::Value {
    let mut args: Vec<&OsStr> = vec!["state".as_ref(), "show".as_ref()];
    args.extend(flags.iter().map(OsStr::new));
    args.extend(["--config".as_ref(), config.as_os_str()]);
    driftd_json(args)
}

/// (model, version) → count from `state show`.
pub fn state_counts(config: &Path) -> BTreeMap<(String, String), u64> {
    let v = state_show(config);
    let mut out = BTreeMap::new();
    if let Some(models) = v["events"].as_object() {
        for (model, versions) in models {
            for (version, n) in versions.as_object().unwrap() {
                out.insert((model.clone(), version.clone()), n.as_u64().unwrap());
            }
        }
    }
    out
}

/// Runs `scripts/{script}` of the repository with the test venv's Python
/// (`DRIFTD_PYTHON`, set by scripts/test.sh with the oracles installed: scipy,
/// scikit-learn, fairlearn) on `input` written to a JSON file in `dir`, and parses
/// its JSON answer.
pub fn python_oracle(
    script: &str,
    args: &[&str],
    input: &serde_json::Value,
    dir: &Path,
) -> serde_json::Value {
    let python = std::env::var("DRIFTD_PYTHON")
        .expect("DRIFTD_PYTHON is not set: run scripts/test.sh, which installs the test oracles");
    let path = dir.join(format!("{script}.input.json"));
    std::fs::write(&path, input.to_string()).unwrap();
    let out = Command::new(python)
        .arg(format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
