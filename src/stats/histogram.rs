//! Bins and mergeable counts (docs/statistics.md, "Reference bins").
//!
//! A numeric value v falls in bin i = number of edges ≤ v, so bins are
//! [e(i−1), e(i)) and open at both ends. The fine edges used for KS are:
//! * continuous reference: its quantiles k/R (k = 1…R−1, numpy's linear method),
//!   duplicates removed — D is then within one reference bin's mass (≈ 1/R) of the
//!   exact statistic;
//! * reference with fewer than R distinct values: every distinct value v and the next
//!   float above it, so each reference value has a bin of its own and D is exact;
//!
//! in both cases joined with the PSI edges (quantiles k/B), so that PSI counts are
//! sums of fine counts whatever R and B are.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// numpy's default (`method="linear"`) quantile of finite, ascending values.
pub(crate) fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * p;
    let prev = (virtual_index.floor() as usize).min(n - 1);
    let next = (prev + 1).min(n - 1);
    let t = virtual_index - prev as f64;
    let (a, b) = (sorted[prev], sorted[next]);
    let diff = b - a;
    if !diff.is_finite() {
        // Huge magnitudes of opposite sign: interpolate without overflowing.
        return a * (1.0 - t) + b * t;
    }
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Sorted, deduplicated quantiles k/q for k = 1…q−1.
pub(crate) fn quantile_edges(sorted: &[f64], q: usize) -> Vec<f64> {
    let mut edges: Vec<f64> = (1..q)
        .map(|k| quantile_sorted(sorted, k as f64 / q as f64))
        .filter(|v| !v.is_nan())
        .collect();
    edges.dedup();
    edges
}

/// The number of edges ≤ v: the bin of v.
#[inline]
pub fn bin_of(edges: &[f64], v: f64) -> usize {
    edges.partition_point(|e| *e <= v)
}

/// Edges of one numeric feature, fixed by its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericBins {
    /// R: the fine edges come from quantiles k/R.
    pub resolution: usize,
    /// B: the PSI edges are quantiles k/B.
    pub psi_bins: usize,
    pub fine_edges: Vec<f64>,
    pub psi_edges: Vec<f64>,
    /// For each fine bin, the PSI bin that contains it.
    pub psi_of_fine: Vec<u32>,
    /// Narrows [`NumericBins::fine_bin`]'s search; derived from `fine_edges` on first
    /// use, never stored.
    #[serde(skip)]
    guide: EdgeGuide,
}

/// A table over the range of sorted, distinct edges: slot `s` of `SLOTS_PER_EDGE × n`
/// equal slots holds the bin of the slot's start, so a value's bin lies between the
/// entries of its slot and the next — a search over a few edges instead of a binary
/// search over all of them (which misses the cache: 8 KB of edges per feature).
#[derive(Clone, Default)]
struct EdgeGuide(std::sync::OnceLock<Option<Guide>>);

#[derive(Clone)]
struct Guide {
    low: f64,
    /// Slots per unit of value.
    scale: f64,
    /// `slots + 1` entries; the last is the number of edges.
    start_bin: Vec<u32>,
}

const SLOTS_PER_EDGE: usize = 4;

impl EdgeGuide {
    fn get(&self, edges: &[f64]) -> Option<&Guide> {
        self.0.get_or_init(|| Guide::new(edges)).as_ref()
    }
}

impl Guide {
    /// `None` when the table cannot help: too few edges, or a range that is not a
    /// finite positive number.
    fn new(edges: &[f64]) -> Option<Guide> {
        let (low, high) = (*edges.first()?, *edges.last()?);
        let width = high - low;
        if edges.len() < 16
            || !(width.is_finite() && width > 0.0)
            || edges.len() > u32::MAX as usize / 8
        {
            return None;
        }
        let slots = edges.len() * SLOTS_PER_EDGE;
        let scale = slots as f64 / width;
        let start_bin = (0..=slots)
            .map(|s| bin_of(edges, low + s as f64 / scale) as u32)
            .collect();
        Some(Guide {
            low,
            scale,
            start_bin,
        })
    }

    /// `bin_of(edges, v)` for the edges this guide was built from; exact whatever the
    /// rounding of the slot (a slot that does not bracket `v` falls back).
    #[inline]
    fn bin(&self, edges: &[f64], v: f64) -> usize {
        let slots = self.start_bin.len() - 1;
        // NaN and values below the range land in slot 0, above it in the last.
        let slot = (((v - self.low) * self.scale).max(0.0) as usize).min(slots - 1);
        let (lo, hi) = (
            self.start_bin[slot] as usize,
            self.start_bin[slot + 1] as usize,
        );
        let brackets =
            lo <= hi && (lo == 0 || edges[lo - 1] <= v) && (hi == edges.len() || edges[hi] > v);
        if brackets {
            lo + bin_of(&edges[lo..hi], v)
        } else {
            bin_of(edges, v)
        }
    }
}

impl PartialEq for EdgeGuide {
    /// Derived data: equal edges make equal guides.
    fn eq(&self, _: &EdgeGuide) -> bool {
        true
    }
}

impl std::fmt::Debug for EdgeGuide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeGuide")
    }
}

impl NumericBins {
    /// From the reference's finite values, ascending.
    pub fn from_sorted(sorted: &[f64], resolution: usize, psi_bins: usize) -> NumericBins {
        let resolution = resolution.max(1);
        let psi_bins = psi_bins.max(1);
        let psi_edges = quantile_edges(sorted, psi_bins);
        let mut distinct: Vec<f64> = sorted.to_vec();
        distinct.dedup();
        let mut fine = if distinct.len() < resolution {
            distinct
                .iter()
                .flat_map(|&v| [v, v.next_up()])
                .filter(|v| v.is_finite())
                .collect()
        } else {
            quantile_edges(sorted, resolution)
        };
        fine.extend_from_slice(&psi_edges);
        fine.sort_by(f64::total_cmp);
        fine.dedup();
        let psi_of_fine = (0..=fine.len())
            .map(|j| {
                if j == 0 {
                    0
                } else {
                    bin_of(&psi_edges, fine[j - 1]) as u32
                }
            })
            .collect();
        NumericBins {
            resolution,
            psi_bins,
            fine_edges: fine,
            psi_edges,
            psi_of_fine,
            guide: EdgeGuide::default(),
        }
    }

    pub(crate) fn fine_bin_count(&self) -> usize {
        self.fine_edges.len() + 1
    }

    pub(crate) fn psi_bin_count(&self) -> usize {
        self.psi_edges.len() + 1
    }

    #[inline]
    pub fn fine_bin(&self, v: f64) -> usize {
        match self.guide.get(&self.fine_edges) {
            Some(g) => g.bin(&self.fine_edges, v),
            None => bin_of(&self.fine_edges, v),
        }
    }

    /// Sums fine counts into PSI bins.
    pub(crate) fn psi_counts(&self, fine: &[u64]) -> Vec<u64> {
        let mut out = vec![0u64; self.psi_bin_count()];
        for (j, c) in fine.iter().enumerate() {
            out[self.psi_of_fine[j] as usize] += c;
        }
        out
    }
}

/// Counts of one numeric feature over some rows. Every field is a sum (min/max are
/// lattice joins), so two `NumericCounts` over the same bins merge by addition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericCounts {
    #[serde(with = "super::sparse")]
    pub bins: Vec<u64>,
    /// Absent, null or NaN.
    pub missing: u64,
    /// A value that is not a number (e.g. a string in a numeric column).
    pub type_mismatch: u64,
    /// Outside the reference's [min, max], ±∞ included.
    pub out_of_range: u64,
    /// Smallest and largest finite value seen (for the Wasserstein bounds); ±∞
    /// while none is, stored as `null`.
    #[serde(with = "infinite_as_null::positive")]
    pub min: f64,
    #[serde(with = "infinite_as_null::negative")]
    pub max: f64,
}

/// JSON has no ∞: an empty range's ±∞ bounds are written as `null` and read back.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    fn ser<S: Serializer>(v: f64, s: S) -> Result<S::Ok, S::Error> {
        // `some`, not a bare f64: binary formats tag an Option (JSON writes the same).
        if v.is_finite() {
            s.serialize_some(&v)
        } else {
            s.serialize_none()
        }
    }

    pub mod positive {
        pub(crate) fn serialize<S: super::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            super::ser(*v, s)
        }
        pub(crate) fn deserialize<'de, D: super::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(<Option<f64> as super::Deserialize>::deserialize(d)?.unwrap_or(f64::INFINITY))
        }
    }

    pub mod negative {
        pub(crate) fn serialize<S: super::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            super::ser(*v, s)
        }
        pub(crate) fn deserialize<'de, D: super::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(<Option<f64> as super::Deserialize>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
        }
    }
}

impl NumericCounts {
    pub fn new(bins: &NumericBins) -> Self {
        NumericCounts {
            bins: vec![0; bins.fine_bin_count()],
            missing: 0,
            type_mismatch: 0,
            out_of_range: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds one value; `range` is the reference's finite [min, max].
    #[inline]
    pub fn add(&mut self, bins: &NumericBins, range: (f64, f64), v: f64) {
        if v.is_nan() {
            self.missing += 1;
            return;
        }
        self.bins[bins.fine_bin(v)] += 1;
        if !(range.0..=range.1).contains(&v) {
            self.out_of_range += 1;
        }
        if v.is_finite() {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// Values in the distribution (not missing, not mismatched).
    pub fn count(&self) -> u64 {
        self.bins.iter().sum()
    }

    pub fn merge(&mut self, other: &NumericCounts) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.missing += other.missing;
        self.type_mismatch += other.type_mismatch;
        self.out_of_range += other.out_of_range;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Takes away counts [`NumericCounts::merge`] added. `min` and `max` cannot be
    /// taken away and are left as they are: whoever subtracts keeps them apart.
    pub fn subtract(&mut self, other: &NumericCounts) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a -= b;
        }
        self.missing -= other.missing;
        self.type_mismatch -= other.type_mismatch;
        self.out_of_range -= other.out_of_range;
    }
}

/// Name of the bin for categories outside the reference vocabulary.
pub const OTHER: &str = "__other__";

/// The vocabulary of one categorical feature: the reference's most frequent
/// categories, plus [`OTHER`] as the last bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryBins {
    pub categories: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl CategoryBins {
    /// Keeps up to `max` categories by count (ties by name, for a stable order).
    pub(crate) fn from_counts(counts: &HashMap<String, u64>, max: usize) -> CategoryBins {
        let mut by_freq: Vec<(&String, &u64)> = counts.iter().collect();
        by_freq.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let categories = by_freq
            .into_iter()
            .take(max)
            .map(|(k, _)| k.clone())
            .collect();
        CategoryBins::new(categories)
    }

    pub fn new(categories: Vec<String>) -> CategoryBins {
        let index = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect();
        CategoryBins { categories, index }
    }

    /// Rebuilds the lookup index after deserialisation.
    pub(crate) fn reindexed(self) -> CategoryBins {
        CategoryBins::new(self.categories)
    }

    pub(crate) fn bin_count(&self) -> usize {
        self.categories.len() + 1
    }

    #[inline]
    pub fn bin(&self, category: &str) -> usize {
        self.index
            .get(category)
            .map(|&i| i as usize)
            .unwrap_or(self.categories.len())
    }
}

/// Counts of one categorical feature; merges by addition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryCounts {
    /// One per category, [`OTHER`] last.
    #[serde(with = "super::sparse")]
    pub bins: Vec<u64>,
    pub missing: u64,
    /// A number in a categorical column.
    pub type_mismatch: u64,
}

impl CategoryCounts {
    pub fn new(bins: &CategoryBins) -> Self {
        CategoryCounts {
            bins: vec![0; bins.bin_count()],
            missing: 0,
            type_mismatch: 0,
        }
    }

    #[inline]
    pub fn add(&mut self, bins: &CategoryBins, category: &str) {
        self.bins[bins.bin(category)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.bins.iter().sum()
    }

    /// Values outside the vocabulary.
    pub fn other(&self) -> u64 {
        self.bins.last().copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &CategoryCounts) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.missing += other.missing;
        self.type_mismatch += other.type_mismatch;
    }

    /// Takes away counts [`CategoryCounts::merge`] added.
    pub fn subtract(&mut self, other: &CategoryCounts) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a -= b;
        }
        self.missing -= other.missing;
        self.type_mismatch -= other.type_mismatch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guided_bin_equals_binary_search() {
        let mut rng = crate::base::rng::SplitMix::new(11);
        let shapes: [&dyn Fn(f64) -> f64; 4] = [
            &|u| u,
            &|u| (u * 12.0).exp(),               // heavy right tail
            &|u| if u < 0.99 { u } else { 1e9 }, // one far outlier edge
            &|u| (u * 40.0).round(),             // few distinct values
        ];
        for (k, shape) in shapes.iter().enumerate() {
            let mut sorted: Vec<f64> = (0..5_000).map(|_| shape(rng.uniform())).collect();
            sorted.sort_by(f64::total_cmp);
            let bins = NumericBins::from_sorted(&sorted, 1000, 10);
            let edges = &bins.fine_edges;
            let mut probes: Vec<f64> =
                vec![f64::NEG_INFINITY, f64::INFINITY, f64::NAN, -1e300, 1e300];
            for e in edges {
                probes.extend([*e, e.next_down(), e.next_up()]);
            }
            probes.extend((0..20_000).map(|_| shape(rng.uniform()) * (0.9 + 0.2 * rng.uniform())));
            for v in probes {
                assert_eq!(bins.fine_bin(v), bin_of(edges, v), "shape {k}, v = {v}");
            }
        }
    }

    #[test]
    fn numpy_linear_quantiles() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // np.quantile([1,2,3,4], [0.25, 0.5, 0.9]) = [1.75, 2.5, 3.7]
        assert_eq!(quantile_sorted(&x, 0.25), 1.75);
        assert_eq!(quantile_sorted(&x, 0.5), 2.5);
        assert!((quantile_sorted(&x, 0.9) - 3.7).abs() < 1e-15);
        assert_eq!(quantile_sorted(&[-1e308, 1e308], 0.5), 0.0);
    }

    #[test]
    fn bins_are_closed_below() {
        let edges = [1.0, 2.0];
        assert_eq!(bin_of(&edges, 0.5), 0);
        assert_eq!(bin_of(&edges, 1.0), 1);
        assert_eq!(bin_of(&edges, 1.5), 1);
        assert_eq!(bin_of(&edges, 2.0), 2);
        assert_eq!(bin_of(&edges, f64::INFINITY), 2);
        assert_eq!(bin_of(&edges, f64::NEG_INFINITY), 0);
    }

    #[test]
    fn psi_edges_are_fine_edges() {
        let sorted: Vec<f64> = (0..10_000).map(|i| (i as f64).sqrt()).collect();
        for (r, b) in [(1000, 10), (1000, 7), (50, 10)] {
            let bins = NumericBins::from_sorted(&sorted, r, b);
            for e in &bins.psi_edges {
                assert!(bins.fine_edges.contains(e));
            }
            // PSI counts from fine counts equal direct PSI binning.
            let mut fine = vec![0u64; bins.fine_bin_count()];
            let mut direct = vec![0u64; bins.psi_bin_count()];
            for &v in &sorted {
                fine[bins.fine_bin(v)] += 1;
                direct[bin_of(&bins.psi_edges, v)] += 1;
            }
            assert_eq!(bins.psi_counts(&fine), direct);
        }
    }

    #[test]
    fn discrete_reference_gets_a_bin_per_value() {
        let sorted = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0];
        let bins = NumericBins::from_sorted(&sorted, 1000, 10);
        let b1 = bins.fine_bin(1.0);
        assert_ne!(b1, bins.fine_bin(1.5));
        assert_ne!(bins.fine_bin(1.5), bins.fine_bin(2.0));
        assert_ne!(bins.fine_bin(3.0), bins.fine_bin(3.5));
    }

    #[test]
    fn categories_by_frequency_then_name() {
        let counts: HashMap<String, u64> = [("b", 5), ("a", 5), ("c", 9), ("d", 1)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        let bins = CategoryBins::from_counts(&counts, 3);
        assert_eq!(bins.categories, ["c", "a", "b"]);
        assert_eq!(bins.bin("d"), 3);
        assert_eq!(bins.bin("never"), 3);
    }
}
