//! driftd's statistics against scipy/numpy (DESIGN §4). `scripts/test.sh` runs
//! `scripts/golden.py generate` into `DRIFTD_GOLDEN_DIR` first; without it these
//! tests fail and say so.

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
