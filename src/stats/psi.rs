//! Population stability index (definition: docs/statistics.md).

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Default floor for each proportion.
pub(crate) const DEFAULT_EPSILON: f64 = 1e-4;

/// PSI = Σ (c − r)·ln(c / r) with each proportion floored at `epsilon` and no
/// renormalisation afterwards. Always ≥ 0 (each term is).
pub fn psi(reference: &[f64], current: &[f64], epsilon: f64) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = r.max(epsilon);
            let c = c.max(epsilon);
            (c - r) * (c / r).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

/// The sample-size-aware PSI threshold: χ²(1 − α; B − 1)·(1/n + 1/m). Under "no
/// drift" PSI·nm/(n+m) is approximately χ²(B − 1), so this is the PSI value that pure
/// sampling noise exceeds with probability α. `None` when a side is empty or B < 2.
pub(crate) fn psi_critical_value(alpha: f64, bins: usize, n: u64, m: u64) -> Option<f64> {
    if n == 0 || m == 0 || bins < 2 || !(0.0..1.0).contains(&alpha) || alpha == 0.0 {
        return None;
    }
    let chi = ChiSquared::new((bins - 1) as f64).ok()?;
    Some(chi.inverse_cdf(1.0 - alpha) * (1.0 / n as f64 + 1.0 / m as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_is_zero_and_floor_applies() {
        assert_eq!(psi(&[0.5, 0.5], &[0.5, 0.5], 1e-4), 0.0);
        // r = 0 is floored: (0.1 − 1e-4)·ln(0.1/1e-4) + (0.9 − 1)·ln(0.9).
        let want = (0.1 - 1e-4) * (0.1f64 / 1e-4).ln() + (0.9 - 1.0) * (0.9f64).ln();
        assert!((psi(&[0.0, 1.0], &[0.1, 0.9], 1e-4) - want).abs() < 1e-15);
    }

    #[test]
    fn critical_value() {
        // χ²(0.95; 9) = 16.918977604620448
        let v = psi_critical_value(0.05, 10, 1000, 1000).unwrap();
        assert!((v - 16.918977604620448 * 0.002).abs() < 1e-9, "{v}");
        assert!(psi_critical_value(0.05, 1, 10, 10).is_none());
    }
}
