//! Confidence intervals for proportions, shared by the statistics that report one.

use statrs::distribution::{ContinuousCDF, Normal};

/// The Wilson score interval of `successes` out of `n` at normal quantile `z`
/// (`None` for n = 0). Unlike the Wald interval it stays inside [0, 1] and keeps its
/// coverage near 0 and 1, where rates such as FPR live.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The normal quantile of a two-sided interval at error rate `alpha` (1.96 for 0.05).
pub fn two_sided_z(alpha: f64) -> f64 {
    let alpha = alpha.clamp(1e-12, 0.999);
    Normal::standard().inverse_cdf(1.0 - alpha / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_its_formula_and_stays_in_range() {
        // Wilson (1927) for 12 of 40 at z = 1.96, worked out by hand in Python:
        // (0.18075, 0.45430).
        let (lo, hi) = wilson(12, 40, 1.959963984540054).unwrap();
        assert!(
            (lo - 0.180_75).abs() < 1e-5 && (hi - 0.454_30).abs() < 1e-5,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10, 1.96).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.0 && hi < 0.35);
        assert_eq!(wilson(0, 0, 1.96), None);
        assert!((two_sided_z(0.05) - 1.959_964).abs() < 1e-6);
    }
}
