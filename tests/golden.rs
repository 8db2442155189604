//! driftd's statistics against scipy/numpy (docs/statistics.md). `scripts/test.sh` runs
//! `scripts/golden.py generate` into `DRIFTD_GOLDEN_DIR` first; without it these
//! tests fail and say so.

mod common;

use std::path::PathBuf;

use driftd::stats::{chi2, ks};

fn golden_dir() -> PathBuf {
    PathBuf::from(std::env::var("DRIFTD_GOLDEN_DIR").expect(
        "DRIFTD_GOLDEN_DIR is not set: run scripts/test.sh, which generates scipy's answers",
    ))
}

fn golden() -> serde_json::Value {
    let path = golden_dir().join("golden.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/test.sh", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn within(ours: f64, theirs: f64, abs: f64, rel: f64) -> bool {
    let d = (ours - theirs).abs();
    d <= abs || d <= rel * theirs.abs()
}

#[test]
fn kolmogorov_sf_matches_scipy_kstwo() {
    let g = golden();
    let mut failures = Vec::new();
    let points = g["kstwo"].as_array().unwrap();
    for p in points {
        let n = p[0].as_u64().unwrap();
        let x = p[1].as_f64().unwrap();
        let want = p[2].as_f64().unwrap();
        let got = ks::kolmogorov_sf(n, x);
        if !within(got, want, 1e-9, 1e-6) {
            failures.push(format!("n={n} x={x}: driftd {got:e}, scipy {want:e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} points differ:\n{}",
        failures.len(),
        points.len(),
        failures.join("\n")
    );
}

#[test]
fn chi2_matches_scipy_chi2_contingency() {
    let g = golden();
    for case in g["chi2"].as_array().unwrap() {
        let counts = |k: &str| -> Vec<u64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        };
        let t = chi2::chi2_contingency(&counts("reference"), &counts("current")).unwrap();
        let stat = case["statistic"].as_f64().unwrap();
        let p = case["pvalue"].as_f64().unwrap();
        assert!(
            within(t.statistic, stat, 0.0, 1e-9),
            "{case}: statistic {}",
            t.statistic
        );
        assert!(
            within(t.pvalue, p, 0.0, 1e-9),
            "{case}: p-value {:e} vs {p:e}",
            t.pvalue
        );
        assert_eq!(t.dof as u64, case["dof"].as_u64().unwrap());
    }
}

/// `driftd report --format json` on each dataset pair: KS D within 1/R of scipy's
/// exact statistic for continuous features and equal for discrete ones; the KS p-value
/// of a discrete feature (same D) equal to scipy's; χ² equal to scipy's; and PSI and JS
/// equal to numpy's recomputation from the reported edges (scripts/golden.py verify).
#[test]
fn report_matches_scipy_and_numpy_on_datasets() {
    let g = golden();
    let python = std::env::var("DRIFTD_PYTHON")
        .expect("DRIFTD_PYTHON is not set: run scripts/test.sh, which provides numpy and scipy");
    for case in g["datasets"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (reference, current) = (
            case["reference"].as_str().unwrap(),
            case["current"].as_str().unwrap(),
        );
        let text = common::driftd([
            "report",
            "--format",
            "json",
            "--reference",
            reference,
            "--current",
            current,
        ]);
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        for f in report["features"].as_array().unwrap() {
            let fname = f["name"].as_str().unwrap();
            let want = &case["features"][fname];
            let ctx = format!("{name}/{fname}");
            if f["kind"] == "numeric" {
                assert_eq!(want["kind"], "numeric", "{ctx}: kind");
                let d = f["ks_statistic"].as_f64().unwrap();
                let exact = want["ks_statistic"].as_f64().unwrap();
                let r = f["resolution"].as_f64().unwrap();
                if want["discrete"].as_bool().unwrap() {
                    assert!((d - exact).abs() < 1e-12, "{ctx}: D {d} vs exact {exact}");
                    let p = f["ks_pvalue"].as_f64().unwrap();
                    let sp = want["ks_pvalue"].as_f64().unwrap();
                    assert!(within(p, sp, 1e-9, 1e-6), "{ctx}: p {p:e} vs scipy {sp:e}");
                } else {
                    assert!(
                        (d - exact).abs() <= 1.0 / r,
                        "{ctx}: D {d} vs exact {exact}"
                    );
                }
                assert_eq!(f["count"].as_u64(), want["m"].as_u64(), "{ctx}: count");
                assert_eq!(f["reference_count"].as_u64(), want["n"].as_u64(), "{ctx}");
            } else {
                assert_eq!(f["kind"], "categorical", "{ctx}");
                let stat = f["chi2_statistic"].as_f64().unwrap();
                let p = f["chi2_pvalue"].as_f64().unwrap();
                assert!(
                    within(stat, want["chi2_statistic"].as_f64().unwrap(), 0.0, 1e-9),
                    "{ctx}"
                );
                assert!(
                    within(p, want["chi2_pvalue"].as_f64().unwrap(), 0.0, 1e-9),
                    "{ctx}"
                );
            }
        }
        let report_path = golden_dir().join(format!("{name}_report.json"));
        std::fs::write(&report_path, &text).unwrap();
        let verify = std::process::Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/golden.py"))
            .arg("verify")
            .arg(&report_path)
            .args([reference, current])
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{name}: numpy disagrees:\n{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }
}
