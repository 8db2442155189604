//! Pictures of drift: a feature's reference and current distributions and a
//! statistic over time, as data ([`Distribution`], [`Series`]), as SVG for the HTML
//! report ([`svg`]) and as PNG for e-mails ([`png`]). Pure: profile and counts in,
//! markup or image bytes out.
//!
//! The numbers drawn are the ones the report computes from: the PSI bins are the
//! bins PSI is summed over, the fine bins those KS reads; nothing is re-binned from
//! raw values.
//!
//! - [`svg`]: charts as inline SVG (maud templates), styled by [`CHART_CSS`]
//! - [`png`]: an SVG rasterised (resvg, with an embedded DejaVu Sans) for e-mails

pub mod png;
pub mod svg;

use crate::reference::{FeatureCounts, FeatureKind, FeatureProfile};

/// At most this many bars of a fine-bin histogram: the fine bins (up to the profile's
/// resolution, 1,000 by default) are grouped into equal-width ranges.
pub const DENSITY_BARS: usize = 48;

/// At most this many categories are drawn, the most frequent (in either data) first;
/// `__other__` is always drawn.
pub const CATEGORY_BARS: usize = 16;

/// The colours (Okabe–Ito, distinguishable with the common colour-vision deficiencies)
/// and text of every chart, light and dark. The HTML page includes it as it is; a PNG
/// gets the light part inside its SVG.
pub const CHART_CSS: &str = "\
.chart text{font-family:'DejaVu Sans',system-ui,sans-serif;font-size:11px;fill:var(--fg,#222)}
.chart .ref{fill:var(--ref,#0072B2)}
.chart .cur{fill:var(--cur,#E69F00)}
.chart .refline{stroke:var(--ref,#0072B2);fill:none;stroke-width:2}
.chart .line{stroke:var(--cur,#E69F00);fill:none;stroke-width:2}
.chart .dot{fill:var(--cur,#E69F00)}
.chart .axis{stroke:var(--muted,#777);stroke-width:1}
.chart .thr{stroke:var(--warn,#D55E00);stroke-width:1.5;stroke-dasharray:5 3}
.chart .bg{fill:var(--bg,#fff)}
.chart .muted{fill:var(--muted,#666)}
";

/// Bars of two distributions over the same labelled bins, as shares of their totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub labels: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
    /// Bins not drawn (categories beyond [`CATEGORY_BARS`]).
    pub hidden: usize,
}

/// A numeric feature's fine bins grouped into equal-width ranges of its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    /// `reference.len() + 1` edges, ascending.
    pub edges: Vec<f64>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// What a feature's chart shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Numeric {
        /// The PSI bins, labelled by their value ranges.
        psi: Bars,
        /// The fine bins, as a histogram over the value.
        fine: Density,
    },
    Categorical(Bars),
}

/// A statistic over time, oldest first; `None` where a period had no value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: String,
    pub points: Vec<(i64, Option<f64>)>,
    /// The rule's or report's threshold, drawn as a dashed line.
    pub threshold: Option<f64>,
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

/// A number short enough for an axis label: 3 significant digits, SI-free.
pub fn short_number(x: f64) -> String {
    if !x.is_finite() {
        return if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{x:.2e}");
    }
    let s = if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    // 2.50 → 2.5, 3.00 → 3
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl Distribution {
    /// The reference's and the current counts of one feature, in its profile's bins.
    pub fn of(profile: &FeatureProfile, counts: &FeatureCounts) -> Distribution {
        match (&profile.kind, counts) {
            (FeatureKind::Numeric { bins, counts, .. }, FeatureCounts::Numeric(cur)) => {
                let e = &bins.psi_edges;
                let labels = (0..=e.len())
                    .map(|i| match i {
                        0 if e.is_empty() => "all".to_string(),
                        0 => format!("< {}", short_number(e[0])),
                        i if i == e.len() => format!("≥ {}", short_number(e[i - 1])),
                        i => format!("{} – {}", short_number(e[i - 1]), short_number(e[i])),
                    })
                    .collect();
                let psi = Bars {
                    labels,
                    reference: shares(&bins.psi_counts(counts)),
                    current: shares(&bins.psi_counts(&cur.bins)),
                    hidden: 0,
                };
                Distribution::Numeric {
                    psi,
                    fine: density(&bins.fine_edges, counts, &cur.bins),
                }
            }
            (FeatureKind::Categorical { bins, counts }, FeatureCounts::Categorical(cur)) => {
                let (r, c) = (shares(counts), shares(&cur.bins));
                let other = bins.categories.len();
                let mut order: Vec<usize> = (0..other).collect();
                order.sort_by(|&a, &b| (c[b].max(r[b])).total_cmp(&c[a].max(r[a])).then(a.cmp(&b)));
                let hidden = order.len().saturating_sub(CATEGORY_BARS);
                order.truncate(CATEGORY_BARS);
                order.push(other);
                let label = |i: usize| {
                    bins.categories
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| crate::stats::histogram::OTHER.to_string())
                };
                Distribution::Categorical(Bars {
                    labels: order.iter().map(|&i| label(i)).collect(),
                    reference: order
                        .iter()
                        .map(|&i| r.get(i).copied().unwrap_or(0.0))
                        .collect(),
                    current: order
                        .iter()
                        .map(|&i| c.get(i).copied().unwrap_or(0.0))
                        .collect(),
                    hidden,
                })
            }
            // A profile and counts of different kinds never meet (the counts are made
            // from the profile); an empty chart rather than a panic.
            _ => Distribution::Categorical(Bars {
                labels: Vec::new(),
                reference: Vec::new(),
                current: Vec::new(),
                hidden: 0,
            }),
        }
    }
}

/// Fine counts (`edges.len() + 1` bins, the end bins open) grouped into at most
/// [`DENSITY_BARS`] equal-width ranges over the reference's bulk; each fine bin goes
/// to the range of its midpoint, bins outside it to the end ranges. The bulk: from
/// the 0.5 % to the 99.5 % edge when there are many (quantile) edges, so that a long
/// tail does not squeeze the body into a few bars; else every edge.
fn density(edges: &[f64], reference: &[u64], current: &[u64]) -> Density {
    let bulk = if edges.len() >= 200 {
        let cut = edges.len() / 200;
        &edges[cut..edges.len() - cut]
    } else {
        edges
    };
    let (lo, hi) = match (bulk.first(), bulk.last()) {
        (Some(&lo), Some(&hi)) if hi > lo && (hi - lo).is_finite() => (lo, hi),
        (Some(&lo), _) => {
            // One value (a constant reference): one bar.
            let all = |c: &[u64]| c.iter().sum::<u64>();
            let one = |c: &[u64]| if all(c) == 0 { 0.0 } else { 1.0 };
            return Density {
                edges: vec![lo, lo],
                reference: vec![one(reference)],
                current: vec![one(current)],
            };
        }
        _ => {
            return Density {
                edges: vec![0.0, 0.0],
                reference: vec![0.0],
                current: vec![0.0],
            }
        }
    };
    let distinct = bulk.len().saturating_sub(1).max(1);
    let n = DENSITY_BARS.min(distinct);
    let width = (hi - lo) / n as f64;
    let slot = |v: f64| (((v - lo) / width) as usize).min(n - 1);
    let group = |counts: &[u64]| {
        let mut out = vec![0u64; n];
        for (j, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let s = if j == 0 {
                0
            } else if j >= edges.len() {
                n - 1
            } else {
                slot((edges[j - 1] + edges[j]) / 2.0)
            };
            out[s] += c;
        }
        shares(&out)
    };
    Density {
        edges: (0..=n).map(|i| lo + width * i as f64).collect(),
        reference: group(reference),
        current: group(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Cell;
    use crate::reference::{test_profile, CurrentCounts};

    /// A numeric and a categorical feature: the current numbers all in the upper half
    /// of the reference's range, half the categories unseen.
    fn distributions() -> (Distribution, Distribution) {
        let rows = (0..1000).map(|i| {
            vec![
                Cell::Number((i % 100) as f64),
                Cell::Text(["a", "b", "c"][i % 3]),
            ]
        });
        let profile = test_profile("v", &["x", "plan"], rows);
        let mut current = CurrentCounts::new(&profile.features);
        let columns = crate::dataset::Columns::from_names(&["x", "plan"]);
        for i in 0..500 {
            current.add_row(
                &columns,
                &[
                    Cell::Number((i % 50) as f64 + 50.0),
                    Cell::Text(["a", "zzz"][i % 2]),
                ],
            );
        }
        (
            Distribution::of(&profile.features[0], &current.features[0]),
            Distribution::of(&profile.features[1], &current.features[1]),
        )
    }

    #[test]
    fn shares_sum_to_one_and_show_the_shift() {
        let (numeric, categorical) = distributions();
        let Distribution::Numeric { psi, fine } = numeric else {
            panic!("numeric")
        };
        for v in [&psi.reference, &psi.current, &fine.reference, &fine.current] {
            assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{v:?}");
        }
        assert_eq!(psi.labels.len(), psi.reference.len());
        assert_eq!(fine.edges.len(), fine.reference.len() + 1);
        assert!(fine.reference.len() <= DENSITY_BARS);
        let half = fine.current.len() / 2;
        assert!(fine.current[..half].iter().sum::<f64>() < 0.05, "{fine:?}");
        assert!((fine.reference[..half].iter().sum::<f64>() - 0.5).abs() < 0.05);

        let Distribution::Categorical(bars) = categorical else {
            panic!("categorical")
        };
        assert_eq!(bars.labels.last().map(String::as_str), Some("__other__"));
        let other = *bars.current.last().unwrap();
        assert!(
            (other - 0.5).abs() < 1e-12,
            "unseen `zzz` is half: {bars:?}"
        );
        assert_eq!(bars.labels[0], "a", "the most frequent first");
    }

    #[test]
    fn a_constant_reference_draws_one_bar() {
        let profile = test_profile("v", &["x"], (0..10).map(|_| vec![Cell::Number(3.0)]));
        let current = CurrentCounts::new(&profile.features);
        let Distribution::Numeric { fine, .. } =
            Distribution::of(&profile.features[0], &current.features[0])
        else {
            panic!("numeric")
        };
        assert!(fine.reference.iter().sum::<f64>() > 0.99);
        assert!(fine.current.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(3.0), "3");
        assert_eq!(short_number(1234.4), "1234");
        assert_eq!(short_number(0.12345), "0.123");
        assert_eq!(short_number(1.5e7), "1.50e7");
        assert_eq!(short_number(f64::INFINITY), "∞");
    }
}
