//! Pure statistics: counts in, numbers out. No I/O, no clock, no tokio.
//!
//! - [`histogram`]: bin edges from reference quantiles, mergeable counts
//! - [`psi`]: population stability index and its sample-size-aware critical value
//! - [`ks`]: Kolmogorov–Smirnov statistic and the finite-n Kolmogorov p-value
//! - [`chi2`]: χ² test of a 2×K contingency table
//! - [`divergence`]: Jensen–Shannon distance, binned Wasserstein distance
//! - [`latency`]: log-scale latency histogram, percentiles within 1 %
//! - [`sparse`]: count vectors written sparsely in the store's binary encoding
//! - [`sequential`]: an always-valid confidence sequence for candidate − baseline and a
//!   promote / rollback / continue verdict that may be checked at every tick
//! - [`shadow`]: a shadow version against the live one on the same requests
//! - [`fairness`]: gaps between groups (demographic parity, equal opportunity,
//!   equalized odds) with simultaneous intervals
//! - [`interval`]: Wilson intervals for proportions
//!   (agreement, score differences, who was right when they disagreed)
//!
//! The contracts are in docs/statistics.md and are held to scipy/numpy by `tests/golden.rs`.

pub mod chi2;
pub mod divergence;
pub mod fairness;
pub mod histogram;
pub mod interval;
pub mod ks;
pub mod latency;
pub mod performance;
pub mod psi;
pub mod sequential;
pub mod shadow;
pub mod sparse;

/// Counts as proportions of their sum; all zeros when the sum is zero.
pub fn proportions(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}
