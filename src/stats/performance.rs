//! Model performance from mergeable sums: binary classification (confusion counts at
//! a threshold, per-class score histograms for AUC, log-loss sum), multiclass
//! (per-class true/false positives and false negatives, for accuracy and macro F1)
//! and regression error sums.
//!
//! Definitions follow scikit-learn's defaults: precision, recall and F1 of the
//! positive class with `zero_division` giving 0; `log_loss` with probabilities
//! clipped to [ε, 1 − ε], ε = 2⁻⁵²; MAPE as mean(|y − ŷ| / max(|y|, ε)).
//!
//! AUC-ROC is computed from score histograms of `AUC_BINS` equal bins on [0, 1]:
//! pairs in different bins are ordered exactly, pairs in the same bin count as ties
//! (½), so |AUC − AUC_exact| ≤ Σ_b pos_b·neg_b / (2·P·N), reported as `auc_bound`.

use serde::{Deserialize, Serialize};

/// Bins of the per-class score histograms.
pub(crate) const AUC_BINS: usize = 1000;
/// Classes tracked one by one for macro F1; the rest share [`OTHER_CLASS`].
pub(crate) const MAX_CLASSES: usize = 100;
pub(crate) const OTHER_CLASS: &str = super::histogram::OTHER;
const EPS: f64 = f64::EPSILON;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceCounts {
    /// Joined (prediction, label) pairs.
    pub n: u64,
    /// Pairs with a predicted class (or thresholded score): the accuracy denominator.
    #[serde(default)]
    pub classified: u64,
    /// Of those, pairs whose predicted class equals the label.
    pub correct: u64,
    pub binary: Option<BinaryCounts>,
    pub regression: Option<RegressionSums>,
    /// Class → [true positives, false positives, false negatives].
    #[serde(default)]
    pub classes: std::collections::BTreeMap<String, [u64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
    #[serde(with = "super::sparse")]
    pub positive_scores: Vec<u64>,
    #[serde(with = "super::sparse")]
    pub negative_scores: Vec<u64>,
    pub log_loss_sum: f64,
}

impl Default for BinaryCounts {
    fn default() -> Self {
        BinaryCounts {
            tp: 0,
            fp: 0,
            tn: 0,
            fn_: 0,
            positive_scores: vec![0; AUC_BINS],
            negative_scores: vec![0; AUC_BINS],
            log_loss_sum: 0.0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegressionSums {
    pub n: u64,
    /// Σ (ŷ − y)
    pub error: f64,
    pub abs_error: f64,
    pub sq_error: f64,
    /// Σ |ŷ − y| / max(|y|, ε)
    pub abs_pct_error: f64,
}

fn score_bin(score: f64) -> usize {
    ((score.clamp(0.0, 1.0) * AUC_BINS as f64) as usize).min(AUC_BINS - 1)
}

impl PerformanceCounts {
    /// A binary outcome: `score` the predicted probability of the positive class.
    pub(crate) fn add_binary(&mut self, score: f64, positive: bool, threshold: f64) {
        let b = self.binary.get_or_insert_with(BinaryCounts::default);
        let predicted = score >= threshold;
        match (predicted, positive) {
            (true, true) => b.tp += 1,
            (true, false) => b.fp += 1,
            (false, false) => b.tn += 1,
            (false, true) => b.fn_ += 1,
        }
        let p = score.clamp(EPS, 1.0 - EPS);
        if positive {
            b.positive_scores[score_bin(score)] += 1;
            b.log_loss_sum -= p.ln();
        } else {
            b.negative_scores[score_bin(score)] += 1;
            b.log_loss_sum -= (1.0 - p).ln();
        }
        self.n += 1;
        self.classified += 1;
        self.correct += u64::from(predicted == positive);
    }

    /// A regression outcome.
    pub(crate) fn add_regression(&mut self, predicted: f64, actual: f64) {
        let r = self.regression.get_or_insert_with(RegressionSums::default);
        let e = predicted - actual;
        r.n += 1;
        r.error += e;
        r.abs_error += e.abs();
        r.sq_error += e * e;
        r.abs_pct_error += e.abs() / actual.abs().max(EPS);
        self.n += 1;
    }

    /// A class outcome (predicted class vs label class).
    pub(crate) fn add_class(&mut self, predicted: &str, actual: &str) {
        self.n += 1;
        self.classified += 1;
        self.correct += u64::from(predicted == actual);
        if predicted == actual {
            self.class_entry(predicted)[0] += 1;
        } else {
            self.class_entry(predicted)[1] += 1;
            self.class_entry(actual)[2] += 1;
        }
    }

    fn class_entry(&mut self, class: &str) -> &mut [u64; 3] {
        let key = if self.classes.contains_key(class) || self.classes.len() < MAX_CLASSES {
            class
        } else {
            OTHER_CLASS
        };
        self.classes.entry(key.to_string()).or_insert([0; 3])
    }

    pub fn merge(&mut self, other: &PerformanceCounts) {
        self.n += other.n;
        self.classified += other.classified;
        self.correct += other.correct;
        if let Some(o) = &other.binary {
            let b = self.binary.get_or_insert_with(BinaryCounts::default);
            b.tp += o.tp;
            b.fp += o.fp;
            b.tn += o.tn;
            b.fn_ += o.fn_;
            for (a, x) in b.positive_scores.iter_mut().zip(&o.positive_scores) {
                *a += x;
            }
            for (a, x) in b.negative_scores.iter_mut().zip(&o.negative_scores) {
                *a += x;
            }
            b.log_loss_sum += o.log_loss_sum;
        }
        for (class, [tp, fp, fn_]) in &other.classes {
            let e = self.class_entry(class);
            e[0] += tp;
            e[1] += fp;
            e[2] += fn_;
        }
        if let Some(o) = &other.regression {
            let r = self.regression.get_or_insert_with(RegressionSums::default);
            r.n += o.n;
            r.error += o.error;
            r.abs_error += o.abs_error;
            r.sq_error += o.sq_error;
            r.abs_pct_error += o.abs_pct_error;
        }
    }

    /// Takes away the counts [`PerformanceCounts::merge`] added; what reaches zero is
    /// dropped, as if never added. The float sums (`log_loss_sum`, regression) are
    /// left as they are: a difference of floats is not exact, so whoever subtracts
    /// keeps them apart (`window::WindowSum`).
    pub fn subtract(&mut self, other: &PerformanceCounts) {
        self.n -= other.n;
        self.classified -= other.classified;
        self.correct -= other.correct;
        if let (Some(b), Some(o)) = (&mut self.binary, &other.binary) {
            b.tp -= o.tp;
            b.fp -= o.fp;
            b.tn -= o.tn;
            b.fn_ -= o.fn_;
            for (a, x) in b.positive_scores.iter_mut().zip(&o.positive_scores) {
                *a -= x;
            }
            for (a, x) in b.negative_scores.iter_mut().zip(&o.negative_scores) {
                *a -= x;
            }
            if b.tp + b.fp + b.tn + b.fn_ == 0 {
                self.binary = None;
            }
        }
        for (class, [tp, fp, fn_]) in &other.classes {
            let key = if self.classes.contains_key(class) {
                class.as_str()
            } else {
                OTHER_CLASS
            };
            if let Some(e) = self.classes.get_mut(key) {
                e[0] -= tp;
                e[1] -= fp;
                e[2] -= fn_;
                if *e == [0; 3] {
                    self.classes.remove(key);
                }
            }
        }
        if let (Some(r), Some(o)) = (&mut self.regression, &other.regression) {
            r.n -= o.n;
            if r.n == 0 {
                self.regression = None;
            }
        }
    }

    /// About how many bytes of memory the counts hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        let binary = self.binary.as_ref().map_or(0, |b| {
            8 * (b.positive_scores.len() + b.negative_scores.len())
        });
        let classes: usize = self.classes.keys().map(|k| 64 + k.len()).sum();
        binary + classes
    }

    /// The float sums, in a fixed order: what [`PerformanceCounts::subtract`] leaves
    /// alone. `None` where the counts have no binary or regression part.
    pub(crate) fn float_sums(&self) -> (Option<f64>, Option<[f64; 4]>) {
        (
            self.binary.as_ref().map(|b| b.log_loss_sum),
            self.regression
                .as_ref()
                .map(|r| [r.error, r.abs_error, r.sq_error, r.abs_pct_error]),
        )
    }

    /// Sets the float sums [`PerformanceCounts::float_sums`] returns.
    pub(crate) fn set_float_sums(
        &mut self,
        (log_loss, regression): (Option<f64>, Option<[f64; 4]>),
    ) {
        if let (Some(b), Some(v)) = (&mut self.binary, log_loss) {
            b.log_loss_sum = v;
        }
        if let (Some(r), Some([e, a, s, p])) = (&mut self.regression, regression) {
            (r.error, r.abs_error, r.sq_error, r.abs_pct_error) = (e, a, s, p);
        }
    }

    /// The metrics; `None` fields are undefined for this data.
    pub fn metrics(&self) -> PerformanceMetrics {
        self.metrics_valued(None)
    }

    /// [`Self::metrics`], with the business value of a binary classifier's outcomes
    /// when the model has [`OutcomeValues`].
    pub fn metrics_valued(&self, values: Option<&OutcomeValues>) -> PerformanceMetrics {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut m = PerformanceMetrics {
            samples: self.n,
            accuracy: (self.classified > 0).then(|| ratio(self.correct, self.classified)),
            ..Default::default()
        };
        if let Some(b) = &self.binary {
            let n = b.tp + b.fp + b.tn + b.fn_;
            if n > 0 {
                m.precision = Some(ratio(b.tp, b.tp + b.fp));
                m.recall = Some(ratio(b.tp, b.tp + b.fn_));
                m.f1 = Some(ratio(2 * b.tp, 2 * b.tp + b.fp + b.fn_));
                m.conversion_rate = Some(ratio(b.tp + b.fn_, n));
                m.predicted_positive_rate = Some(ratio(b.tp + b.fp, n));
                if let Some(v) = values {
                    let total = v.tp * b.tp as f64
                        + v.fp * b.fp as f64
                        + v.tn * b.tn as f64
                        + v.fn_ * b.fn_ as f64;
                    m.business_value = Some(total);
                    m.business_value_per_prediction = Some(total / n as f64);
                }
                m.log_loss = Some(b.log_loss_sum / n as f64);
                let (auc, bound) = auc_from_histograms(&b.positive_scores, &b.negative_scores);
                m.auc = auc;
                m.auc_bound = bound;
            }
        }
        if !self.classes.is_empty() {
            // scikit-learn's f1_score(average="macro"): the unweighted mean over every
            // class seen as a label or a prediction.
            let f1s: Vec<f64> = self
                .classes
                .values()
                .map(|[tp, fp, fn_]| ratio(2 * tp, 2 * tp + fp + fn_))
                .collect();
            m.macro_f1 = Some(f1s.iter().sum::<f64>() / f1s.len() as f64);
        }
        if let Some(r) = &self.regression {
            if r.n > 0 {
                let n = r.n as f64;
                m.mae = Some(r.abs_error / n);
                m.mse = Some(r.sq_error / n);
                m.rmse = Some((r.sq_error / n).sqrt());
                m.mape = Some(r.abs_pct_error / n);
                m.mean_error = Some(r.error / n);
            }
        }
        m
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerformanceMetrics {
    pub samples: u64,
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Multiclass: mean F1 over classes.
    pub macro_f1: Option<f64>,
    pub auc: Option<f64>,
    pub auc_bound: Option<f64>,
    pub log_loss: Option<f64>,
    pub mae: Option<f64>,
    pub mse: Option<f64>,
    pub rmse: Option<f64>,
    pub mape: Option<f64>,
    pub mean_error: Option<f64>,
    /// Binary: share of labelled predictions whose label is positive (a decision
    /// model's conversion rate), and share predicted positive.
    pub conversion_rate: Option<f64>,
    pub predicted_positive_rate: Option<f64>,
    /// Binary, with `[models.<m>.value]`: Σ outcomes × their value, and per labelled
    /// prediction.
    pub business_value: Option<f64>,
    pub business_value_per_prediction: Option<f64>,
}

/// What each outcome of a binary decision is worth (`[models.<m>.value]`), e.g. a
/// caught fraud +40, a blocked good customer −5, a missed fraud −100.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OutcomeValues {
    pub tp: f64,
    pub fp: f64,
    pub tn: f64,
    pub fn_: f64,
}

/// One performance metric: its name (in rules, history and the APIs, and the gauge
/// `driftd_performance_<name>`), the gauge's help, and where it is in
/// [`PerformanceMetrics`]. The one list of them.
pub struct PerformanceMetric {
    pub name: &'static str,
    pub help: &'static str,
    pub value: fn(&PerformanceMetrics) -> Option<f64>,
}

pub const PERFORMANCE_METRICS: &[PerformanceMetric] = &[
    PerformanceMetric {
        name: "accuracy",
        help: "Accuracy of labelled predictions in the window.",
        value: |m| m.accuracy,
    },
    PerformanceMetric {
        name: "precision",
        help: "Precision of the positive class (binary classifiers).",
        value: |m| m.precision,
    },
    PerformanceMetric {
        name: "recall",
        help: "Recall of the positive class (binary classifiers).",
        value: |m| m.recall,
    },
    PerformanceMetric {
        name: "f1",
        help: "F1 of the positive class (binary classifiers).",
        value: |m| m.f1,
    },
    PerformanceMetric {
        name: "macro_f1",
        help: "Mean F1 over classes (multiclass classifiers).",
        value: |m| m.macro_f1,
    },
    PerformanceMetric {
        name: "auc",
        help: "Area under the ROC curve from score histograms (binary classifiers).",
        value: |m| m.auc,
    },
    PerformanceMetric {
        name: "log_loss",
        help: "Mean log loss (binary classifiers).",
        value: |m| m.log_loss,
    },
    PerformanceMetric {
        name: "mae",
        help: "Mean absolute error (regression).",
        value: |m| m.mae,
    },
    PerformanceMetric {
        name: "mse",
        help: "Mean squared error (regression).",
        value: |m| m.mse,
    },
    PerformanceMetric {
        name: "rmse",
        help: "Root mean squared error (regression).",
        value: |m| m.rmse,
    },
    PerformanceMetric {
        name: "mape",
        help: "Mean absolute percentage error as a ratio (regression).",
        value: |m| m.mape,
    },
    PerformanceMetric {
        name: "mean_error",
        help: "Mean of prediction minus label (regression).",
        value: |m| m.mean_error,
    },
    PerformanceMetric {
        name: "conversion_rate",
        help: "Share of labelled predictions whose label is positive: a decision model's conversion rate (binary classifiers).",
        value: |m| m.conversion_rate,
    },
    PerformanceMetric {
        name: "predicted_positive_rate",
        help: "Share of labelled predictions predicted positive (binary classifiers).",
        value: |m| m.predicted_positive_rate,
    },
    PerformanceMetric {
        name: "business_value",
        help: "Sum over the window's labelled outcomes of their value in [models.<m>.value] (binary classifiers).",
        value: |m| m.business_value,
    },
    PerformanceMetric {
        name: "business_value_per_prediction",
        help: "business_value per labelled prediction.",
        value: |m| m.business_value_per_prediction,
    },
];

/// Whether `name` is one of the [`PERFORMANCE_METRICS`].
pub fn is_performance_metric(name: &str) -> bool {
    PERFORMANCE_METRICS.iter().any(|m| m.name == name)
}

impl PerformanceMetrics {
    /// Each metric's value by its name, in the order of [`PERFORMANCE_METRICS`].
    pub fn named(&self) -> impl Iterator<Item = (&'static str, Option<f64>)> + '_ {
        PERFORMANCE_METRICS
            .iter()
            .map(|m| (m.name, (m.value)(self)))
    }
}

/// AUC-ROC from per-class score histograms over the same bins, ties within a bin
/// counted ½, and its error bound. `None` when a class is absent.
pub(crate) fn auc_from_histograms(
    positive: &[u64],
    negative: &[u64],
) -> (Option<f64>, Option<f64>) {
    let p: u64 = positive.iter().sum();
    let n: u64 = negative.iter().sum();
    if p == 0 || n == 0 {
        return (None, None);
    }
    let (mut below_neg, mut wins, mut ties) = (0u128, 0u128, 0u128);
    for (pos, neg) in positive.iter().zip(negative) {
        wins += *pos as u128 * below_neg;
        ties += *pos as u128 * *neg as u128;
        below_neg += *neg as u128;
    }
    let pairs = p as f64 * n as f64;
    (
        Some((wins as f64 + ties as f64 / 2.0) / pairs),
        Some(ties as f64 / 2.0 / pairs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each table entry reads the field of its own name (the JSON the API serves):
    /// every field gets a different value, so a crossed entry fails.
    #[test]
    fn the_table_reads_the_field_of_each_name() {
        let p = PerformanceMetrics {
            accuracy: Some(0.5),
            precision: Some(1.5),
            recall: Some(2.5),
            f1: Some(3.5),
            macro_f1: Some(4.5),
            auc: Some(5.5),
            log_loss: Some(6.5),
            mae: Some(7.5),
            mse: Some(8.5),
            rmse: Some(9.5),
            mape: Some(10.5),
            mean_error: Some(11.5),
            conversion_rate: Some(12.5),
            predicted_positive_rate: Some(13.5),
            business_value: Some(14.5),
            business_value_per_prediction: Some(15.5),
            ..Default::default()
        };
        let served = serde_json::to_value(&p).unwrap();
        for m in PERFORMANCE_METRICS {
            assert_eq!((m.value)(&p), served[m.name].as_f64(), "{}", m.name);
        }
        let mut names: Vec<_> = PERFORMANCE_METRICS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PERFORMANCE_METRICS.len());
        assert!(PERFORMANCE_METRICS.iter().all(|m| !m.help.is_empty()));
    }

    #[test]
    fn business_value_weighs_each_outcome() {
        let counts = PerformanceCounts {
            n: 100,
            binary: Some(BinaryCounts {
                tp: 10,
                fp: 20,
                tn: 60,
                fn_: 10,
                ..Default::default()
            }),
            ..Default::default()
        };
        let values = OutcomeValues {
            tp: 40.0,
            fp: -5.0,
            tn: 0.5,
            fn_: -100.0,
        };
        let m = counts.metrics_valued(Some(&values));
        assert_eq!(m.business_value, Some(400.0 - 100.0 + 30.0 - 1000.0));
        assert_eq!(m.business_value_per_prediction, Some(-6.7));
        assert_eq!(m.conversion_rate, Some(0.2));
        assert_eq!(m.predicted_positive_rate, Some(0.3));
        assert_eq!(counts.metrics().business_value, None, "no values, no value");
    }

    #[test]
    fn binary_metrics_by_hand() {
        let mut c = PerformanceCounts::default();
        for (s, y) in [
            (0.9, true),
            (0.8, true),
            (0.7, false),
            (0.3, true),
            (0.1, false),
        ] {
            c.add_binary(s, y, 0.5);
        }
        let m = c.metrics();
        assert_eq!(m.accuracy, Some(0.6));
        assert_eq!(m.precision, Some(2.0 / 3.0));
        assert_eq!(m.recall, Some(2.0 / 3.0));
        assert!((m.f1.unwrap() - 2.0 / 3.0).abs() < 1e-15);
        // Exact AUC: positives 0.9, 0.8, 0.3 vs negatives 0.7, 0.1 → 5 of 6 pairs.
        assert!((m.auc.unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.auc_bound, Some(0.0));
    }

    #[test]
    fn merge_equals_concatenation() {
        let mut a = PerformanceCounts::default();
        let mut b = PerformanceCounts::default();
        let mut all = PerformanceCounts::default();
        for i in 0..100 {
            let s = (i as f64 * 0.37).fract();
            let y = i % 3 == 0;
            if i % 2 == 0 {
                a.add_binary(s, y, 0.5)
            } else {
                b.add_binary(s, y, 0.5)
            }
            all.add_binary(s, y, 0.5);
        }
        a.merge(&b);
        assert_eq!(
            a.binary.as_ref().unwrap().tp,
            all.binary.as_ref().unwrap().tp
        );
        assert_eq!(a.metrics().auc, all.metrics().auc);
    }

    #[test]
    fn multiclass_macro_f1() {
        // sklearn: f1_score(["a","b","c","a"], ["a","c","c","b"], average="macro")
        //   a: tp1 fp0 fn1 → 2/3; b: tp0 fp1 fn1 → 0; c: tp1 fp1 fn0 → 2/3 → 4/9
        let mut c = PerformanceCounts::default();
        for (y, p) in [("a", "a"), ("b", "c"), ("c", "c"), ("a", "b")] {
            c.add_class(p, y);
        }
        let m = c.metrics();
        assert!((m.macro_f1.unwrap() - 4.0 / 9.0).abs() < 1e-15);
        assert_eq!(m.accuracy, Some(0.5));
    }

    #[test]
    fn regression_metrics() {
        let mut c = PerformanceCounts::default();
        c.add_regression(3.0, 2.0);
        c.add_regression(1.0, 2.0);
        c.add_regression(4.0, 4.0);
        let m = c.metrics();
        assert_eq!(m.accuracy, None, "no classes, no accuracy");
        assert_eq!(m.mae, Some(2.0 / 3.0));
        assert_eq!(m.mse, Some(2.0 / 3.0));
        assert_eq!(m.mean_error, Some(0.0));
        assert_eq!(m.mape, Some((0.5 + 0.5) / 3.0));
    }
}
