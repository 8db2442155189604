//! Latency percentiles from a log-scale histogram: a value v > 0 falls in bucket
//! ⌈ln(v)/ln(γ)⌉ with γ = (1 + α)/(1 − α), α = 1 %; a percentile is reported as the
//! bucket's midpoint 2γ^i/(γ + 1), within 1 % relative error of a value in the bucket
//! (the DDSketch construction). Buckets are sums, so histograms merge by addition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Relative accuracy of reported percentiles.
pub(crate) const RELATIVE_ACCURACY: f64 = 0.01;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// Bucket index → count, for values > 0.
    buckets: BTreeMap<i32, u64>,
    /// Values ≤ 0 (a clock that says 0 ms).
    zero: u64,
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

impl LatencyHistogram {
    /// Adds one latency (any unit; non-finite values are ignored).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if v <= 0.0 {
            self.zero += 1;
            return;
        }
        let i = (v.ln() / gamma().ln()).ceil() as i32;
        *self.buckets.entry(i).or_insert(0) += 1;
    }

    pub fn count(&self) -> u64 {
        self.zero + self.buckets.values().sum::<u64>()
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.zero += other.zero;
        for (i, n) in &other.buckets {
            *self.buckets.entry(*i).or_insert(0) += n;
        }
    }

    /// Takes away counts [`LatencyHistogram::merge`] added; a bucket that reaches zero
    /// is dropped, as if never added.
    pub fn subtract(&mut self, other: &LatencyHistogram) {
        self.zero -= other.zero;
        for (i, n) in &other.buckets {
            if let Some(c) = self.buckets.get_mut(i) {
                *c -= n;
                if *c == 0 {
                    self.buckets.remove(i);
                }
            }
        }
    }

    /// About how many bytes of memory the histogram holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        // A B-tree entry of (i32, u64) with its share of node overhead.
        32 * self.buckets.len()
    }

    /// The q-quantile (0 ≤ q ≤ 1) by the nearest-rank rule; `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        if rank <= self.zero {
            return Some(0.0);
        }
        let g = gamma();
        let mut seen = self.zero;
        for (i, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                return Some(2.0 * g.powi(*i) / (g + 1.0));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_one_percent() {
        let mut h = LatencyHistogram::default();
        let mut values: Vec<f64> = (1..=10_000).map(|i| (i as f64 * 0.37).powf(1.3)).collect();
        for v in &values {
            h.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = values[((q * values.len() as f64).ceil() as usize).max(1) - 1];
            let got = h.quantile(q).unwrap();
            assert!(
                (got - exact).abs() <= RELATIVE_ACCURACY * exact,
                "q={q}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn merge_adds_and_empty_is_none() {
        let mut a = LatencyHistogram::default();
        let mut b = LatencyHistogram::default();
        assert_eq!(a.quantile(0.5), None);
        a.add(1.0);
        b.add(100.0);
        b.add(0.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.quantile(0.1), Some(0.0));
    }
}
