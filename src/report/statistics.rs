//! The one table of per-feature statistics: for each, its key in a feature's drift
//! report, whether rules can use it (under the same name), the gauge that exports it
//! and what backs it. Rules (`rules::sample`), gauges (`metrics`) and the history
//! API read this table instead of naming fields themselves.
//!
//! Report keys and rule metrics say `*_rate`; gauges follow Prometheus's base units
//! and say `*_ratio` (`missing_rate` → `driftd_feature_missing_ratio`).

use super::{FeatureDrift, KindDrift};

/// What the observations behind a value are (a rule's `min_samples` counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observations {
    /// The feature's present values (`count`).
    Present,
    /// Every row of the window, present or not.
    Rows,
}

/// What a rule's `reference` stands for with this statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reference {
    /// A distance from the reference: the reference's own value is 0.
    Zero,
    /// The share of reference rows without a usable value.
    MissingRate,
    /// No reference value.
    None,
}

/// One per-feature statistic.
pub(crate) struct FeatureStatistic {
    /// Its key in a feature's drift report, and its name as a rule metric.
    pub field: &'static str,
    /// Rules may use it (`metric = "<field>"`).
    pub rule: bool,
    /// Exported as the gauge `driftd_feature_<gauge>`.
    pub gauge: Option<&'static str>,
    /// The gauge's help text.
    pub help: &'static str,
    /// The value in a report; `None` where it is undefined for this feature.
    pub value: fn(&FeatureDrift) -> Option<f64>,
    pub observations: Observations,
    pub reference: Reference,
    /// The gauge is set only when the feature had values to measure (its status is
    /// `ok`); a rate of nothing would read as a confident 0.
    pub gauge_needs_values: bool,
    /// Rules compare it with the sample-size-aware critical value (`> critical`).
    pub critical: bool,
}

impl FeatureStatistic {
    /// The statistic of that report key or rule metric.
    pub fn named(field: &str) -> Option<&'static FeatureStatistic> {
        FEATURE_STATISTICS.iter().find(|s| s.field == field)
    }
}

/// The names rules accept for feature metrics.
pub(crate) fn rule_metrics() -> impl Iterator<Item = &'static str> {
    FEATURE_STATISTICS
        .iter()
        .filter(|s| s.rule)
        .map(|s| s.field)
}

const fn stat(field: &'static str, value: fn(&FeatureDrift) -> Option<f64>) -> FeatureStatistic {
    FeatureStatistic {
        field,
        rule: true,
        gauge: Some(field),
        help: "",
        value,
        observations: Observations::Present,
        reference: Reference::None,
        gauge_needs_values: false,
        critical: false,
    }
}

/// A field of numeric features only.
macro_rules! numeric {
    ($field:ident) => {
        |f: &FeatureDrift| match &f.detail {
            KindDrift::Numeric { $field, .. } => Some(*$field),
            _ => None,
        }
    };
}

/// A field of categorical features only.
macro_rules! categorical {
    ($field:ident) => {
        |f: &FeatureDrift| match &f.detail {
            KindDrift::Categorical { $field, .. } => Some(*$field),
            _ => None,
        }
    };
}

pub(crate) const FEATURE_STATISTICS: &[FeatureStatistic] = &[
    FeatureStatistic {
        help: "Population stability index against the reference.",
        reference: Reference::Zero,
        critical: true,
        ..stat("psi", |f| f.psi)
    },
    FeatureStatistic {
        help: "Jensen-Shannon distance (base 2) against the reference.",
        reference: Reference::Zero,
        ..stat("js_distance", |f| f.js_distance)
    },
    FeatureStatistic {
        help: "Kolmogorov-Smirnov D against the reference (numeric features).",
        ..stat("ks_statistic", |f| numeric!(ks_statistic)(f).flatten())
    },
    FeatureStatistic {
        help: "Kolmogorov-Smirnov p-value (numeric features).",
        ..stat("ks_pvalue", |f| numeric!(ks_pvalue)(f).flatten())
    },
    FeatureStatistic {
        gauge: None,
        help: "Chi-square statistic against the reference (categorical features).",
        ..stat("chi2_statistic", |f| {
            categorical!(chi2_statistic)(f).flatten()
        })
    },
    FeatureStatistic {
        help: "Chi-square p-value against the reference (categorical features).",
        ..stat("chi2_pvalue", |f| categorical!(chi2_pvalue)(f).flatten())
    },
    FeatureStatistic {
        help: "Binned Wasserstein-1 distance over the reference standard deviation.",
        ..stat("wasserstein_normed", |f| {
            numeric!(wasserstein_normed)(f).flatten()
        })
    },
    FeatureStatistic {
        gauge: Some("missing_ratio"),
        help: "Share of events where the feature is missing.",
        observations: Observations::Rows,
        reference: Reference::MissingRate,
        ..stat("missing_rate", |f| Some(f.missing_rate))
    },
    FeatureStatistic {
        gauge: Some("type_mismatch_ratio"),
        help: "Share of events where the feature has the wrong type.",
        observations: Observations::Rows,
        ..stat("type_mismatch_rate", |f| Some(f.type_mismatch_rate))
    },
    FeatureStatistic {
        gauge: Some("out_of_range_ratio"),
        help: "Share of present values outside the reference range.",
        gauge_needs_values: true,
        ..stat("out_of_range_rate", numeric!(out_of_range_rate))
    },
    FeatureStatistic {
        gauge: Some("unseen_ratio"),
        help: "Share of present values outside the reference categories.",
        gauge_needs_values: true,
        ..stat("unseen_rate", categorical!(unseen_rate))
    },
    FeatureStatistic {
        rule: false,
        help: "1 when PSI reaches its threshold, else 0.",
        ..stat("drifted", |f| {
            (f.status == "ok").then_some(if f.drifted { 1.0 } else { 0.0 })
        })
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_report_key_exists() {
        let mut fields: Vec<_> = FEATURE_STATISTICS.iter().map(|s| s.field).collect();
        fields.sort();
        fields.dedup();
        assert_eq!(fields.len(), FEATURE_STATISTICS.len());
        let mut gauges: Vec<_> = FEATURE_STATISTICS.iter().filter_map(|s| s.gauge).collect();
        gauges.sort();
        gauges.dedup();
        assert_eq!(
            gauges.len(),
            FEATURE_STATISTICS
                .iter()
                .filter(|s| s.gauge.is_some())
                .count()
        );
        assert!(FEATURE_STATISTICS.iter().all(|s| !s.help.is_empty()));
    }

    /// Each value the table reads is the report's field of the same name, for a
    /// numeric and a categorical feature (the JSON shape is the contract).
    #[test]
    fn values_are_the_report_fields_of_their_name() {
        use crate::dataset::Cell;
        use crate::reference::{test_profile, CurrentCounts};
        let rows = (0..400).map(|i| {
            vec![
                Cell::Number((i % 40) as f64),
                Cell::Text(["a", "b", "c"][i % 3]),
            ]
        });
        let profile = test_profile("v", &["x", "plan"], rows);
        let mut current = CurrentCounts::new(&profile.features);
        let columns = crate::dataset::Columns::from_names(&["x", "plan"]);
        for i in 0..300 {
            let x = if i % 10 == 0 {
                Cell::Missing
            } else {
                Cell::Number((i % 60) as f64)
            };
            current.add_row(&columns, &[x, Cell::Text(["a", "d"][i % 2])]);
        }
        let settings = crate::report::ReportSettings::default();
        for (f, c) in profile.features.iter().zip(&current.features) {
            let drift = crate::report::feature_drift(f, c, current.rows, true, 1e-4, &settings);
            let json = serde_json::to_value(&drift).unwrap();
            for s in FEATURE_STATISTICS {
                let expected = match &json[s.field] {
                    serde_json::Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                    v => v.as_f64(),
                };
                assert_eq!((s.value)(&drift), expected, "{} of {}", s.field, f.name);
            }
        }
    }
}
