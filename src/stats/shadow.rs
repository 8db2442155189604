//! A shadow version against the live one on the same requests: how often they
//! agree, how far apart their scores are, and — once the label arrives — who was
//! right when they disagreed. Integer counts only, so they merge and subtract
//! exactly like every other bucket accumulator.

use serde::{Deserialize, Serialize};

/// Upper edges of the |candidate − baseline| score bins; the last bin is open.
/// Fine near 0 (probabilities that differ in the third decimal), coarse beyond 1
/// (regressors in their own units).
pub const DIFFERENCE_EDGES: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0,
];

/// The two predictions of one request, and its label when known.
#[derive(Debug, Clone, PartialEq)]
pub struct PairObservation {
    /// Both sides decided a class (a class, or a score in [0, 1] against the
    /// threshold): whether they decided the same one.
    pub agree: Option<bool>,
    /// Both sides scored: candidate − baseline.
    pub difference: Option<f64>,
}

/// Who was right on a labelled pair: a class decision equal to the label, or, for
/// regressors, the smaller absolute error (equal errors count as both right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairCorrectness {
    pub baseline: bool,
    pub candidate: bool,
}

/// Pairs of (live, shadow) predictions of one deployment in one bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairCounts {
    /// Requests both versions predicted.
    pub pairs: u64,
    /// Of those, the ones where both decided a class, and where they agreed.
    pub decided: u64,
    pub agree: u64,
    /// |candidate − baseline| per [`DIFFERENCE_EDGES`] bin (empty until a pair with
    /// two scores), and how many of those had the candidate higher.
    pub difference_bins: Vec<u64>,
    pub candidate_higher: u64,
    /// Pairs whose label arrived, and by who was right.
    pub labelled: u64,
    pub both_right: u64,
    pub baseline_only_right: u64,
    pub candidate_only_right: u64,
}

impl PairCounts {
    pub fn add_pair(&mut self, o: &PairObservation) {
        self.pairs += 1;
        if let Some(agree) = o.agree {
            self.decided += 1;
            self.agree += u64::from(agree);
        }
        if let Some(d) = o.difference.filter(|d| d.is_finite()) {
            if self.difference_bins.is_empty() {
                self.difference_bins = vec![0; DIFFERENCE_EDGES.len() + 1];
            }
            let bin = DIFFERENCE_EDGES.partition_point(|&e| e <= d.abs());
            self.difference_bins[bin] += 1;
            self.candidate_higher += u64::from(d > 0.0);
        }
    }

    pub fn add_labelled(&mut self, c: PairCorrectness) {
        self.labelled += 1;
        match (c.baseline, c.candidate) {
            (true, true) => self.both_right += 1,
            (true, false) => self.baseline_only_right += 1,
            (false, true) => self.candidate_only_right += 1,
            (false, false) => {}
        }
    }

    pub fn merge(&mut self, other: &PairCounts) {
        self.pairs += other.pairs;
        self.decided += other.decided;
        self.agree += other.agree;
        if !other.difference_bins.is_empty() {
            if self.difference_bins.is_empty() {
                self.difference_bins = vec![0; other.difference_bins.len()];
            }
            for (a, b) in self.difference_bins.iter_mut().zip(&other.difference_bins) {
                *a += b;
            }
        }
        self.candidate_higher += other.candidate_higher;
        self.labelled += other.labelled;
        self.both_right += other.both_right;
        self.baseline_only_right += other.baseline_only_right;
        self.candidate_only_right += other.candidate_only_right;
    }

    /// Takes away counts merged in before (saturating: a count never goes below 0).
    pub fn subtract(&mut self, other: &PairCounts) {
        let sub = |a: &mut u64, b: u64| *a = a.saturating_sub(b);
        sub(&mut self.pairs, other.pairs);
        sub(&mut self.decided, other.decided);
        sub(&mut self.agree, other.agree);
        for (a, b) in self.difference_bins.iter_mut().zip(&other.difference_bins) {
            sub(a, *b);
        }
        if self.difference_bins.iter().all(|&c| c == 0) {
            self.difference_bins.clear();
        }
        sub(&mut self.candidate_higher, other.candidate_higher);
        sub(&mut self.labelled, other.labelled);
        sub(&mut self.both_right, other.both_right);
        sub(&mut self.baseline_only_right, other.baseline_only_right);
        sub(&mut self.candidate_only_right, other.candidate_only_right);
    }

    /// Nothing counted: a bucket drops it.
    pub fn is_empty(&self) -> bool {
        self.pairs == 0 && self.labelled == 0
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        8 * self.difference_bins.len()
    }

    /// Share of decided pairs that agreed.
    pub fn agreement(&self) -> Option<f64> {
        (self.decided > 0).then(|| self.agree as f64 / self.decided as f64)
    }

    /// The Wilson score interval of the agreement rate at `z` (1.96: 95 %).
    pub fn agreement_interval(&self, z: f64) -> Option<(f64, f64)> {
        super::interval::wilson(self.agree, self.decided, z)
    }

    /// An upper bound of the `q` quantile of |candidate − baseline|: the upper edge
    /// of the bin it falls in (`None` without scored pairs, or in the open last bin
    /// when the edge is infinite).
    pub fn difference_quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.difference_bins.iter().sum();
        if total == 0 {
            return None;
        }
        let target = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.difference_bins.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(DIFFERENCE_EDGES.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_differences_and_who_was_right_add_up_and_subtract_exactly() {
        let mut a = PairCounts::default();
        for i in 0..100 {
            a.add_pair(&PairObservation {
                agree: Some(i % 10 != 0),
                difference: Some(if i % 10 == 0 { -0.8 } else { 0.003 }),
            });
        }
        a.add_labelled(PairCorrectness {
            baseline: true,
            candidate: false,
        });
        a.add_labelled(PairCorrectness {
            baseline: false,
            candidate: true,
        });
        assert_eq!(a.agreement(), Some(0.9));
        let (low, high) = a.agreement_interval(1.96).unwrap();
        assert!(low < 0.9 && 0.9 < high && high - low < 0.15, "{low} {high}");
        assert_eq!(a.difference_quantile(0.5), Some(0.005));
        assert_eq!(a.difference_quantile(0.95), Some(1.0));
        assert_eq!(a.candidate_higher, 90);
        let mut b = PairCounts::default();
        b.add_pair(&PairObservation {
            agree: None,
            difference: Some(500.0),
        });
        assert_eq!(b.difference_quantile(1.0), Some(f64::INFINITY));
        let before = a.clone();
        a.merge(&b);
        assert_eq!((a.pairs, a.decided), (101, 100));
        a.subtract(&b);
        assert_eq!(a, before);
        a.subtract(&before);
        assert!(a.is_empty() && a.difference_bins.is_empty());
        assert_eq!(PairCounts::default().agreement(), None);
    }
}
