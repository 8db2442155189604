//! Properties of the statistics core that hold for any input (proptest).

use driftd::stats::histogram::{CategoryBins, CategoryCounts, NumericBins, NumericCounts};
use driftd::stats::{chi2, divergence, ks, proportions, psi};
use proptest::prelude::*;

fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            8 => -1e6f64..1e6,
            1 => (0i32..5).prop_map(f64::from),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ],
        0..400,
    )
}

fn bins_from(reference: &[f64], r: usize, b: usize) -> NumericBins {
    let mut finite: Vec<f64> = reference
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    finite.sort_by(f64::total_cmp);
    NumericBins::from_sorted(&finite, r, b)
}

proptest! {
    #[test]
    fn merging_partial_histograms_equals_histogram_of_concatenation(
        reference in values(), a in values(), b in values(),
        r in 2usize..300, nbins in 2usize..20,
    ) {
        let bins = bins_from(&reference, r, nbins);
        let range = (-5e5, 5e5);
        let count = |xs: &[f64]| {
            let mut c = NumericCounts::new(&bins);
            for &v in xs { c.add(&bins, range, v); }
            c
        };
        let mut merged = count(&a);
        merged.merge(&count(&b));
        let all: Vec<f64> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(merged, count(&all));
    }

    #[test]
    fn merging_category_counts_equals_counts_of_concatenation(
        a in prop::collection::vec("[a-e]", 0..100), b in prop::collection::vec("[a-g]", 0..100),
    ) {
        let bins = CategoryBins::new(vec!["a".into(), "b".into(), "c".into()]);
        let count = |xs: &[String]| {
            let mut c = CategoryCounts::new(&bins);
            for v in xs { c.add(&bins, v); }
            c
        };
        let mut merged = count(&a);
        merged.merge(&count(&b));
        let all: Vec<String> = a.iter().chain(&b).cloned().collect();
        prop_assert_eq!(merged, count(&all));
    }

    #[test]
    fn psi_is_never_negative(
        r in prop::collection::vec(0u64..1000, 1..30), c in prop::collection::vec(0u64..1000, 1..30),
        eps in 1e-8f64..0.1,
    ) {
        let k = r.len().min(c.len());
        let p = psi::psi(&proportions(&r[..k]), &proportions(&c[..k]), eps);
        prop_assert!(p >= 0.0 && p.is_finite(), "{}", p);
    }

    #[test]
    fn ks_statistic_in_unit_interval_and_pvalues_are_probabilities(
        r in prop::collection::vec(0u64..10_000, 1..50), c in prop::collection::vec(0u64..10_000, 1..50),
    ) {
        let k = r.len().min(c.len());
        let d = ks::ks_statistic(&r[..k], &c[..k]);
        prop_assert!((0.0..=1.0).contains(&d), "{}", d);
        let n: u64 = r[..k].iter().sum();
        let m: u64 = c[..k].iter().sum();
        let p = ks::ks_pvalue(d, n, m);
        prop_assert!((0.0..=1.0).contains(&p), "D={} n={} m={} p={}", d, n, m, p);
        if let Some(t) = chi2::chi2_contingency(&r[..k], &c[..k]) {
            prop_assert!((0.0..=1.0).contains(&t.pvalue) && t.statistic >= 0.0);
        }
        if let Some(js) = divergence::js_distance(&proportions(&r[..k]), &proportions(&c[..k])) {
            prop_assert!((0.0..=1.0).contains(&js));
        }
    }

    #[test]
    fn kolmogorov_sf_is_a_probability(n in 1u64..3_000_000, x in 0.0f64..1.0) {
        let p = ks::kolmogorov_sf(n, x);
        prop_assert!((0.0..=1.0).contains(&p), "n={} x={} p={}", n, x, p);
    }
}
