//! Fairness across the groups of a sensitive attribute, from each group's confusion
//! counts: the gaps fairlearn reports (`demographic_parity_difference` and `_ratio`,
//! `equal_opportunity_difference`, `equalized_odds_difference`, all "between groups":
//! the largest group rate against the smallest), each group's rates, and an interval
//! for every gap.
//!
//! The intervals are simultaneous: each group's rate gets a Wilson interval at α / m
//! (Bonferroni over the m rates a gap depends on), so with probability ≥ 1 − α every
//! rate is inside its interval, and then the true gap is inside
//! [max lo − min hi, max hi − min lo] (the true max is ≥ every lo and ≤ the largest hi,
//! the true min likewise). Conservative, but valid for any number of groups and
//! without the winner's curse of an interval around the two extreme groups alone.
//! Integer counts in, so it merges like every other window statistic.

use serde::Serialize;

/// One group's confusion counts (decision = score at or above the threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl GroupCounts {
    pub fn n(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// (successes, trials) of each rate.
    fn selection(&self) -> (u64, u64) {
        (self.tp + self.fp, self.n())
    }
    fn tpr(&self) -> (u64, u64) {
        (self.tp, self.tp + self.fn_)
    }
    fn fpr(&self) -> (u64, u64) {
        (self.fp, self.fp + self.tn)
    }
}

fn rate((k, n): (u64, u64)) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// One group's rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRates {
    pub group: String,
    /// Labelled predictions of the group.
    pub samples: u64,
    pub selection_rate: Option<f64>,
    pub true_positive_rate: Option<f64>,
    pub false_positive_rate: Option<f64>,
    pub false_negative_rate: Option<f64>,
    pub accuracy: Option<f64>,
}

/// A gap between groups and its simultaneous interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gap {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// The fairness of one window across the groups of the sensitive attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FairnessReport {
    pub groups: Vec<GroupRates>,
    /// The smallest group's labelled predictions (what a rule's `min_samples` sees).
    pub smallest_group: u64,
    /// max − min selection rate, and min / max.
    pub demographic_parity_difference: Option<Gap>,
    pub demographic_parity_ratio: Option<Gap>,
    /// max − min true positive rate.
    pub equal_opportunity_difference: Option<Gap>,
    /// The larger of the TPR and FPR differences.
    pub equalized_odds_difference: Option<Gap>,
    /// The error rate of the simultaneous intervals.
    pub alpha: f64,
}

/// A gap of a report.
pub type GapOf = fn(&FairnessReport) -> Option<Gap>;

/// The names of the gaps as rule metrics and gauge labels, with their values.
pub const FAIRNESS_METRICS: &[(&str, GapOf)] = &[
    ("demographic_parity_difference", |r| {
        r.demographic_parity_difference
    }),
    ("demographic_parity_ratio", |r| r.demographic_parity_ratio),
    ("equal_opportunity_difference", |r| {
        r.equal_opportunity_difference
    }),
    ("equalized_odds_difference", |r| r.equalized_odds_difference),
];

/// Values and Wilson intervals of one rate over the groups where it is defined, at
/// error rate `alpha` each.
fn rates(
    groups: &[(String, GroupCounts)],
    of: fn(&GroupCounts) -> (u64, u64),
    z: f64,
) -> Vec<(f64, f64, f64)> {
    groups
        .iter()
        .filter_map(|(_, c)| {
            let (k, n) = of(c);
            let (lo, hi) = super::interval::wilson(k, n, z)?;
            Some((k as f64 / n as f64, lo, hi))
        })
        .collect()
}

/// max − min over the rates, with [max lo − min hi, max hi − min lo]; `None` with
/// fewer than two groups.
fn difference(r: &[(f64, f64, f64)]) -> Option<Gap> {
    if r.len() < 2 {
        return None;
    }
    let max = |f: fn(&(f64, f64, f64)) -> f64| r.iter().map(f).fold(f64::MIN, f64::max);
    let min = |f: fn(&(f64, f64, f64)) -> f64| r.iter().map(f).fold(f64::MAX, f64::min);
    Some(Gap {
        value: max(|x| x.0) - min(|x| x.0),
        low: (max(|x| x.1) - min(|x| x.2)).max(0.0),
        high: max(|x| x.2) - min(|x| x.1),
    })
}

/// min / max over the rates, with [min lo / max hi, min hi / max lo] within [0, 1].
fn ratio(r: &[(f64, f64, f64)]) -> Option<Gap> {
    if r.len() < 2 {
        return None;
    }
    let max = |f: fn(&(f64, f64, f64)) -> f64| r.iter().map(f).fold(f64::MIN, f64::max);
    let min = |f: fn(&(f64, f64, f64)) -> f64| r.iter().map(f).fold(f64::MAX, f64::min);
    let div = |a: f64, b: f64| if b > 0.0 { (a / b).min(1.0) } else { 1.0 };
    let (top, bottom) = (max(|x| x.0), min(|x| x.0));
    Some(Gap {
        // fairlearn: 0/0 is a ratio of 1 (no group selected: no disparity).
        value: div(bottom, top),
        low: if max(|x| x.2) > 0.0 {
            min(|x| x.1) / max(|x| x.2)
        } else {
            0.0
        },
        high: div(min(|x| x.2), max(|x| x.1)),
    })
}

/// The report for these groups (at least two with labelled predictions, else `None`),
/// with simultaneous intervals at error rate `alpha` per gap.
pub fn fairness(groups: &[(String, GroupCounts)], alpha: f64) -> Option<FairnessReport> {
    let groups: Vec<(String, GroupCounts)> =
        groups.iter().filter(|(_, c)| c.n() > 0).cloned().collect();
    if groups.len() < 2 {
        return None;
    }
    let k = groups.len() as f64;
    let z = |m: f64| super::interval::two_sided_z(alpha / m);
    let selection = rates(&groups, GroupCounts::selection, z(k));
    let tpr_k = groups.iter().filter(|(_, c)| c.tpr().1 > 0).count() as f64;
    let fpr_k = groups.iter().filter(|(_, c)| c.fpr().1 > 0).count() as f64;
    let tpr = rates(&groups, GroupCounts::tpr, z(tpr_k.max(1.0)));
    // Equalized odds needs TPR and FPR intervals that hold together: α over both sets.
    let tpr_joint = rates(&groups, GroupCounts::tpr, z((tpr_k + fpr_k).max(1.0)));
    let fpr_joint = rates(&groups, GroupCounts::fpr, z((tpr_k + fpr_k).max(1.0)));
    let odds = match (difference(&tpr_joint), difference(&fpr_joint)) {
        (Some(t), Some(f)) => Some(Gap {
            value: t.value.max(f.value),
            low: t.low.max(f.low),
            high: t.high.max(f.high),
        }),
        _ => None,
    };
    Some(FairnessReport {
        smallest_group: groups.iter().map(|(_, c)| c.n()).min().unwrap_or(0),
        groups: groups
            .iter()
            .map(|(g, c)| GroupRates {
                group: g.clone(),
                samples: c.n(),
                selection_rate: rate(c.selection()),
                true_positive_rate: rate(c.tpr()),
                false_positive_rate: rate(c.fpr()),
                false_negative_rate: rate((c.fn_, c.tp + c.fn_)),
                accuracy: rate((c.tp + c.tn, c.n())),
            })
            .collect(),
        demographic_parity_difference: difference(&selection),
        demographic_parity_ratio: ratio(&selection),
        equal_opportunity_difference: difference(&tpr),
        equalized_odds_difference: odds,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::SplitMix;

    fn counts(tp: u64, fp: u64, tn: u64, fn_: u64) -> GroupCounts {
        GroupCounts { tp, fp, tn, fn_ }
    }

    #[test]
    fn gaps_are_between_the_extreme_groups() {
        let groups = vec![
            ("a".to_string(), counts(40, 10, 40, 10)), // selection 0.5, TPR 0.8, FPR 0.2
            ("b".to_string(), counts(20, 5, 60, 15)),  // 0.25, 0.571, 0.077
            ("c".to_string(), counts(30, 10, 50, 10)), // 0.4, 0.75, 0.167
        ];
        let r = fairness(&groups, 0.05).unwrap();
        let dp = r.demographic_parity_difference.unwrap();
        assert!((dp.value - 0.25).abs() < 1e-12);
        assert!(dp.low < 0.25 && 0.25 < dp.high);
        let ratio = r.demographic_parity_ratio.unwrap();
        assert!((ratio.value - 0.5).abs() < 1e-12);
        let eopp = r.equal_opportunity_difference.unwrap();
        assert!((eopp.value - (0.8 - 20.0 / 35.0)).abs() < 1e-12);
        let eo = r.equalized_odds_difference.unwrap();
        let fpr_gap = 0.2 - 5.0 / 65.0;
        assert!((eo.value - eopp.value.max(fpr_gap)).abs() < 1e-12);
        assert_eq!(r.smallest_group, 100);
        assert_eq!(r.groups[1].false_negative_rate, Some(15.0 / 35.0));
        assert!(fairness(&groups[..1], 0.05).is_none(), "one group: no gap");
    }

    /// Over repeated samples of three groups with known rates, each gap's interval
    /// covers the true gap at least 1 − α of the time (fixed seed).
    #[test]
    fn intervals_cover_the_true_gap_at_the_stated_rate() {
        // (share of positives, selection given positive (TPR), selection given negative (FPR))
        let truth = [(0.3, 0.8, 0.1), (0.4, 0.7, 0.2), (0.5, 0.65, 0.15)];
        let selection: Vec<f64> = truth
            .iter()
            .map(|(pos, tpr, fpr)| pos * tpr + (1.0 - pos) * fpr)
            .collect();
        let gap = |v: &[f64]| {
            v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
        };
        let true_dp = gap(&selection);
        let true_ratio = selection.iter().cloned().fold(f64::MAX, f64::min)
            / selection.iter().cloned().fold(f64::MIN, f64::max);
        let tprs: Vec<f64> = truth.iter().map(|t| t.1).collect();
        let fprs: Vec<f64> = truth.iter().map(|t| t.2).collect();
        let true_eopp = gap(&tprs);
        let true_eo = gap(&tprs).max(gap(&fprs));
        let mut rng = SplitMix::new(17);
        let runs = 1000;
        let mut covered = [0; 4];
        for _ in 0..runs {
            let groups: Vec<(String, GroupCounts)> = truth
                .iter()
                .enumerate()
                .map(|(i, (pos, tpr, fpr))| {
                    let mut c = GroupCounts::default();
                    for _ in 0..400 {
                        let y = rng.uniform() < *pos;
                        let selected = rng.uniform() < if y { *tpr } else { *fpr };
                        match (y, selected) {
                            (true, true) => c.tp += 1,
                            (true, false) => c.fn_ += 1,
                            (false, true) => c.fp += 1,
                            (false, false) => c.tn += 1,
                        }
                    }
                    (format!("g{i}"), c)
                })
                .collect();
            let r = fairness(&groups, 0.05).unwrap();
            let inside = |g: Option<Gap>, t: f64| {
                let g = g.unwrap();
                usize::from(g.low <= t && t <= g.high)
            };
            covered[0] += inside(r.demographic_parity_difference, true_dp);
            covered[1] += inside(r.demographic_parity_ratio, true_ratio);
            covered[2] += inside(r.equal_opportunity_difference, true_eopp);
            covered[3] += inside(r.equalized_odds_difference, true_eo);
        }
        for (name, c) in [
            "dp difference",
            "dp ratio",
            "equal opportunity",
            "equalized odds",
        ]
        .iter()
        .zip(covered)
        {
            assert!(
                c as f64 / runs as f64 >= 0.95,
                "{name}: covered {c} of {runs}"
            );
        }
    }
}
