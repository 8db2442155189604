//! Drift of current counts against a reference profile, per feature, in the shape of
//! docs/statistics.md ("`driftd report` output") — shared by `driftd report`, the daemon's windows and the HTTP API. Pure: profile and
//! counts in, [`DriftReport`] out; rendering as JSON or a table is here too.
//!
//! Defined answers for the edge cases, never NaN:
//! * no current values for a feature (empty file, all missing, column absent):
//!   every distribution statistic is `null`, `status` says why;
//! * a reference column with no values: statistics `null`, status
//!   `no_reference_values`;
//! * a column only in the current data: listed with status `only_in_current`;
//! * constant reference: one PSI edge at the constant, statistics as usual. Values
//!   above the constant share its PSI bin, so PSI stays 0 for them; KS (one fine bin
//!   per reference value) and `out_of_range_rate` show the change.
//!   `wasserstein_normed` is `null` (the reference spread is 0).
//!
//! Rates: `missing_rate` and `type_mismatch_rate` are shares of current rows;
//! `out_of_range_rate` and `unseen_rate` are shares of the present values (`count`).

use serde::Serialize;

use std::collections::BTreeMap;

mod file;
pub mod html;
pub mod statistics;

pub(crate) use file::compare_files;
pub(crate) use statistics::FeatureStatistic;
pub(crate) use statistics::FEATURE_STATISTICS;

use crate::reference::{FeatureCounts, FeatureKind, FeatureProfile};
use crate::stats::{chi2, divergence, ks, proportions, psi};

/// When a feature counts as drifted (from `[report]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSettings {
    /// A feature drifted when its PSI is at least this.
    pub psi_threshold: f64,
    /// Per-feature PSI thresholds that override `psi_threshold`.
    pub thresholds: BTreeMap<String, f64>,
    /// α of the sample-size-aware PSI critical value reported next to PSI.
    pub alpha: f64,
}

impl Default for ReportSettings {
    /// The defaults of `[report]`.
    fn default() -> Self {
        ReportSettings {
            psi_threshold: 0.2,
            thresholds: BTreeMap::new(),
            alpha: 0.05,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DriftReport {
    pub reference: RowCount,
    pub current: RowCount,
    pub features: Vec<FeatureDrift>,
    /// Names of drifted features.
    pub drifted: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct RowCount {
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FeatureDrift {
    pub name: String,
    pub kind: &'static str,
    /// `ok`, `no_current_values`, `no_reference_values`, `only_in_reference`,
    /// `only_in_current`.
    pub status: &'static str,
    pub count: u64,
    pub reference_count: u64,
    pub missing_rate: f64,
    pub type_mismatch_rate: f64,
    pub psi: Option<f64>,
    pub psi_epsilon: f64,
    pub js_distance: Option<f64>,
    #[serde(flatten)]
    pub detail: KindDrift,
    /// PSI threshold that decides `drifted`.
    pub threshold: f64,
    pub drifted: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum KindDrift {
    Numeric {
        psi_edges: Vec<f64>,
        /// PSI that sampling noise alone exceeds with probability α.
        psi_critical_value: Option<f64>,
        ks_statistic: Option<f64>,
        ks_pvalue: Option<f64>,
        resolution: usize,
        out_of_range_rate: f64,
        /// Binned Wasserstein-1 distance over the reference standard deviation.
        wasserstein_normed: Option<f64>,
    },
    Categorical {
        chi2_statistic: Option<f64>,
        chi2_pvalue: Option<f64>,
        unseen_rate: f64,
        categories: Vec<String>,
        psi_critical_value: Option<f64>,
    },
    /// A column without a reference: only its presence is reported.
    Unprofiled {},
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Drift of one feature. `seen` is false when the current data never had the column.
pub fn feature_drift(
    feature: &FeatureProfile,
    counts: &FeatureCounts,
    current_rows: u64,
    seen: bool,
    epsilon: f64,
    settings: &ReportSettings,
) -> FeatureDrift {
    let threshold = settings
        .thresholds
        .get(&feature.name)
        .copied()
        .unwrap_or(settings.psi_threshold);
    let (cur_bins, missing, mismatch) = match counts {
        FeatureCounts::Numeric(c) => (c.bins.as_slice(), c.missing, c.type_mismatch),
        FeatureCounts::Categorical(c) => (c.bins.as_slice(), c.missing, c.type_mismatch),
    };
    let count: u64 = cur_bins.iter().sum();
    let (ref_bins, psi_ref, psi_cur): (&[u64], Vec<u64>, Vec<u64>) = match &feature.kind {
        FeatureKind::Numeric { bins, counts, .. } => {
            (counts, bins.psi_counts(counts), bins.psi_counts(cur_bins))
        }
        FeatureKind::Categorical { counts, .. } => (counts, counts.clone(), cur_bins.to_vec()),
    };
    let reference_count: u64 = ref_bins.iter().sum();
    let status = if !seen {
        "only_in_reference"
    } else if reference_count == 0 {
        "no_reference_values"
    } else if count == 0 {
        "no_current_values"
    } else {
        "ok"
    };
    let computable = status == "ok";
    let (r, c) = (proportions(&psi_ref), proportions(&psi_cur));
    let psi_value = computable.then(|| psi::psi(&r, &c, epsilon));
    let js = if computable {
        divergence::js_distance(&r, &c)
    } else {
        None
    };
    let critical = if computable {
        psi::psi_critical_value(settings.alpha, psi_ref.len(), reference_count, count)
    } else {
        None
    };
    let detail = match (&feature.kind, counts) {
        (FeatureKind::Numeric { bins, std, .. }, FeatureCounts::Numeric(cur)) => {
            let d = computable.then(|| ks::ks_statistic(ref_bins, cur_bins));
            let (lo, hi) = match &feature.kind {
                FeatureKind::Numeric { min, max, .. } => (
                    min.unwrap_or(f64::INFINITY).min(cur.min),
                    max.unwrap_or(f64::NEG_INFINITY).max(cur.max),
                ),
                FeatureKind::Categorical { .. } => (0.0, 0.0),
            };
            let wasserstein = if computable {
                divergence::wasserstein_binned(&bins.fine_edges, ref_bins, cur_bins, lo, hi)
                    .zip(*std)
                    .and_then(|(w, s)| if s > 0.0 { finite(w / s) } else { None })
            } else {
                None
            };
            KindDrift::Numeric {
                psi_edges: bins.psi_edges.clone(),
                psi_critical_value: critical,
                ks_statistic: d,
                ks_pvalue: d.map(|d| ks::ks_pvalue(d, reference_count, count)),
                resolution: bins.resolution,
                out_of_range_rate: rate(cur.out_of_range, count),
                wasserstein_normed: wasserstein,
            }
        }
        (FeatureKind::Categorical { bins, .. }, FeatureCounts::Categorical(cur)) => {
            let test = if computable {
                chi2::chi2_contingency(ref_bins, cur_bins)
            } else {
                None
            };
            KindDrift::Categorical {
                chi2_statistic: test.map(|t| t.statistic),
                chi2_pvalue: test.map(|t| t.pvalue),
                unseen_rate: rate(cur.other(), count),
                categories: bins.categories.clone(),
                psi_critical_value: critical,
            }
        }
        _ => KindDrift::Unprofiled {},
    };
    FeatureDrift {
        name: feature.name.clone(),
        kind: feature.kind.name(),
        status,
        count,
        reference_count,
        missing_rate: rate(missing, current_rows),
        type_mismatch_rate: rate(mismatch, current_rows),
        drifted: psi_value.is_some_and(|p| p >= threshold),
        psi: psi_value,
        psi_epsilon: epsilon,
        js_distance: js,
        detail,
        threshold,
    }
}

/// A column that only the current data has.
pub(crate) fn unprofiled_column(
    name: &str,
    present: u64,
    numbers: u64,
    current_rows: u64,
) -> FeatureDrift {
    FeatureDrift {
        name: name.to_string(),
        kind: if numbers * 2 >= present {
            "numeric"
        } else {
            "categorical"
        },
        status: "only_in_current",
        count: present,
        reference_count: 0,
        missing_rate: rate(current_rows - present.min(current_rows), current_rows),
        type_mismatch_rate: 0.0,
        psi: None,
        psi_epsilon: 0.0,
        js_distance: None,
        detail: KindDrift::Unprofiled {},
        threshold: 0.0,
        drifted: false,
    }
}

impl FeatureDrift {
    /// The PSI that sampling noise alone exceeds with probability α; `None` for a
    /// column without a reference, or without values to compare.
    pub(crate) fn psi_critical_value(&self) -> Option<f64> {
        match &self.detail {
            KindDrift::Numeric {
                psi_critical_value, ..
            }
            | KindDrift::Categorical {
                psi_critical_value, ..
            } => *psi_critical_value,
            KindDrift::Unprofiled {} => None,
        }
    }
}

impl DriftReport {
    pub fn new(reference_rows: u64, current_rows: u64, features: Vec<FeatureDrift>) -> Self {
        let drifted = features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| f.name.clone())
            .collect();
        DriftReport {
            reference: RowCount {
                rows: reference_rows,
            },
            current: RowCount { rows: current_rows },
            features,
            drifted,
        }
    }

    /// A fixed-width table for people.
    pub(crate) fn to_table(&self) -> String {
        let fmt = |v: Option<f64>, prec: usize| match v {
            Some(x) if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) => format!("{x:.2e}"),
            Some(x) => format!("{x:.prec$}"),
            None => "-".to_string(),
        };
        // The feature column is as wide as the longest name: names are never cut.
        let width = self
            .features
            .iter()
            .map(|f| f.name.chars().count())
            .max()
            .unwrap_or(0)
            .max("feature".len());
        let mut out = format!(
            "reference rows: {}   current rows: {}\n\n{:<width$} {:<11} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7}  {}\n",
            self.reference.rows,
            self.current.rows,
            "feature",
            "kind",
            "count",
            "missing",
            "PSI",
            "KS D",
            "KS p",
            "χ² p",
            "JS",
            "verdict"
        );
        for f in &self.features {
            let (d, p, chi) = match &f.detail {
                KindDrift::Numeric {
                    ks_statistic,
                    ks_pvalue,
                    ..
                } => (*ks_statistic, *ks_pvalue, None),
                KindDrift::Categorical { chi2_pvalue, .. } => (None, None, *chi2_pvalue),
                KindDrift::Unprofiled {} => (None, None, None),
            };
            let verdict = match (f.status, f.drifted) {
                ("ok", true) => format!("DRIFT (PSI ≥ {})", f.threshold),
                ("ok", false) => "ok".to_string(),
                (s, _) => s.replace('_', " "),
            };
            out.push_str(&format!(
                "{:<width$} {:<11} {:>9} {:>7.1}% {:>8} {:>8} {:>9} {:>9} {:>7}  {}\n",
                f.name,
                f.kind,
                f.count,
                f.missing_rate * 100.0,
                fmt(f.psi, 4),
                fmt(d, 4),
                fmt(p, 4),
                fmt(chi, 4),
                fmt(f.js_distance, 4),
                verdict
            ));
        }
        out.push_str(&format!(
            "\n{} of {} features drifted\n",
            self.drifted.len(),
            self.features.len()
        ));
        out
    }
}
