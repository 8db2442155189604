//! Always-valid comparison of a candidate with a baseline: a confidence sequence for
//! the difference of their means that holds at every look at once, so a verdict may
//! be checked at every tick without the inflated error of peeking at a fixed-horizon
//! test. Pure: mergeable moments in, an interval and a verdict out.
//!
//! Each arm's mean has an asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha,
//! Kennedy & Ramdas, "Time-uniform central limit theory and asymptotic confidence
//! sequences", Annals of Statistics 2024, Theorem 2.2 — Robbins' normal mixture with
//! the variance estimated):
//!
//! ```text
//! μ̂ₜ ± sqrt( 2 (t σ̂ₜ² ρ² + 1) / (t² ρ²) · ln( sqrt(t σ̂ₜ² ρ² + 1) / α ) )
//! ```
//!
//! with ρ² = (−2 ln α + ln(−2 ln α + 1)) / t*, which makes the sequence tightest at a
//! planned sample size t* (their eq. 13; here the fixed-horizon sample size of the
//! minimum effect). The difference takes each arm's sequence at α/2 (a union bound):
//! valid whatever share of the traffic each arm gets and however that share changes,
//! at the price of a wider interval than a paired design. Proportions (accuracy, a
//! conversion rate) use the Laplace-smoothed variance p̃(1 − p̃), p̃ = (s + 1)/(n + 2),
//! so that an arm whose first outcomes are all equal does not look certain.
//!
//! The verdict, for a metric where higher is better (the sign flips otherwise), with
//! `d` = candidate − baseline:
//! - **rollback** when the whole interval for `d` is below 0: the candidate is worse;
//! - **promote** when the whole interval is above −`min_effect`: it is not worse by the
//!   minimum effect that matters (non-inferiority);
//! - **continue** otherwise, and while an arm has fewer than `min_samples`.
//!
//! Because the interval covers `d` at every look with probability ≥ 1 − α, P(rollback
//! while the candidate is not worse) ≤ α and P(promote while it is worse by the
//! minimum effect or more) ≤ α. The sequence's guarantee is asymptotic; the error
//! rates at the sample sizes used here are measured by simulation (the tests below,
//! docs/statistics.md).

use statrs::distribution::{ContinuousCDF, Normal};

/// What one arm has seen of a metric: sums that add up, so buckets and windows merge.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// `successes` of `n` outcomes (0/1 values).
    pub fn proportion(successes: u64, n: u64) -> Moments {
        Moments {
            n,
            sum: successes as f64,
            sum_sq: successes as f64,
        }
    }

    pub fn merge(&mut self, other: &Moments) {
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The variance the sequence uses: of a proportion, Laplace-smoothed; of a mean,
    /// the sample variance (0 with one value).
    fn variance(&self, kind: MetricKind) -> f64 {
        let n = self.n as f64;
        match kind {
            MetricKind::Proportion => {
                let p = (self.sum + 1.0) / (n + 2.0);
                p * (1.0 - p)
            }
            MetricKind::Mean if self.n < 2 => 0.0,
            MetricKind::Mean => {
                let mean = self.sum / n;
                ((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0)
            }
        }
    }
}

/// How a metric's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// 0/1 outcomes: accuracy, a conversion rate.
    Proportion,
    /// Any real values: an error, a score, a latency.
    Mean,
}

/// What decides a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialSettings {
    /// Error rate of each verdict (see the module documentation).
    pub alpha: f64,
    /// The smallest worsening that matters, in the metric's units (> 0).
    pub min_effect: f64,
    pub higher_is_better: bool,
    /// Samples each arm needs before any verdict.
    pub min_samples: u64,
    /// The candidate sample size the sequence is tightest at (t*).
    pub planned_samples: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Promote,
    Rollback,
    Continue,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Promote => "promote",
            Verdict::Rollback => "rollback",
            Verdict::Continue => "continue",
        }
    }
}

/// The evidence at one look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Candidate − baseline, in the metric's units (not flipped).
    pub difference: f64,
    /// The always-valid interval for it.
    pub low: f64,
    pub high: f64,
    pub verdict: Verdict,
}

/// ρ² of the sequence that is tightest at `planned` samples (eq. 13).
pub fn rho_squared(alpha: f64, planned: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    (l + (l + 1.0).ln()) / planned.max(1.0)
}

/// The half-width of one arm's sequence at level `alpha`; `None` without samples.
pub fn radius(m: &Moments, kind: MetricKind, alpha: f64, rho2: f64) -> Option<f64> {
    if m.n == 0 {
        return None;
    }
    let t = m.n as f64;
    let v = t * m.variance(kind) * rho2 + 1.0;
    Some((2.0 * v / (t * t * rho2) * (v.sqrt() / alpha).ln()).sqrt())
}

/// Samples per candidate needed by a fixed-horizon two-sided z-test of the same α
/// and power `1 − beta` for a difference of `effect`, with `ratio` baseline samples
/// per candidate sample and per-observation variances `var_candidate`, `var_baseline`.
pub fn fixed_horizon_samples(
    alpha: f64,
    beta: f64,
    effect: f64,
    var_candidate: f64,
    var_baseline: f64,
    ratio: f64,
) -> f64 {
    let z = |p: f64| {
        Normal::new(0.0, 1.0)
            .map(|n| n.inverse_cdf(p))
            .unwrap_or(f64::NAN)
    };
    let k = z(1.0 - alpha / 2.0) + z(1.0 - beta);
    k * k * (var_candidate + var_baseline / ratio) / (effect * effect)
}

/// Compares the candidate with the baseline at this look.
pub fn compare(
    baseline: &Moments,
    candidate: &Moments,
    kind: MetricKind,
    s: &SequentialSettings,
) -> Option<Comparison> {
    let (b, c) = (baseline.mean()?, candidate.mean()?);
    let rho2 = rho_squared(s.alpha / 2.0, s.planned_samples);
    let rb = radius(baseline, kind, s.alpha / 2.0, rho2)?;
    let rc = radius(candidate, kind, s.alpha / 2.0, rho2)?;
    let difference = c - b;
    let (low, high) = (difference - rb - rc, difference + rb + rc);
    // In "better" units: improvement = candidate − baseline when higher is better.
    let (better_low, better_high) = if s.higher_is_better {
        (low, high)
    } else {
        (-high, -low)
    };
    let enough = baseline.n >= s.min_samples && candidate.n >= s.min_samples;
    let verdict = if !enough {
        Verdict::Continue
    } else if better_high < 0.0 {
        Verdict::Rollback
    } else if better_low > -s.min_effect {
        Verdict::Promote
    } else {
        Verdict::Continue
    };
    Some(Comparison {
        difference,
        low,
        high,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::SplitMix;

    const ALPHA: f64 = 0.05;
    const RUNS: usize = 1000;
    const TICKS: usize = 60;
    /// Outcomes per tick: a canary with a fifth of the traffic.
    const PER_TICK: (u64, u64) = (400, 100);

    fn settings() -> SequentialSettings {
        SequentialSettings {
            alpha: ALPHA,
            min_effect: 0.05,
            higher_is_better: true,
            min_samples: 200,
            planned_samples: fixed_horizon_samples(ALPHA, 0.2, 0.05, 0.1875, 0.16, 4.0),
        }
    }

    fn successes(rng: &mut SplitMix, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| rng.uniform() < p).count() as u64
    }

    /// One run looked at every tick: the first verdict and the candidate samples by
    /// then (`None`: still `continue` at the end).
    fn run(rng: &mut SplitMix, p_baseline: f64, p_candidate: f64) -> Option<(Verdict, u64)> {
        let s = settings();
        let (mut b, mut c) = (Moments::default(), Moments::default());
        for _ in 0..TICKS {
            b.merge(&Moments::proportion(
                successes(rng, PER_TICK.0, p_baseline),
                PER_TICK.0,
            ));
            c.merge(&Moments::proportion(
                successes(rng, PER_TICK.1, p_candidate),
                PER_TICK.1,
            ));
            let cmp = compare(&b, &c, MetricKind::Proportion, &s).unwrap();
            if cmp.verdict != Verdict::Continue {
                return Some((cmp.verdict, c.n));
            }
        }
        None
    }

    fn simulate(seed: u64, p_baseline: f64, p_candidate: f64) -> (f64, f64, Vec<u64>) {
        let mut rng = SplitMix::new(seed);
        let (mut rollback, mut promote, mut samples) = (0, 0, Vec::new());
        for _ in 0..RUNS {
            match run(&mut rng, p_baseline, p_candidate) {
                Some((Verdict::Rollback, n)) => {
                    rollback += 1;
                    samples.push(n);
                }
                Some((Verdict::Promote, n)) => {
                    promote += 1;
                    samples.push(n);
                }
                _ => {}
            }
        }
        samples.sort_unstable();
        (
            rollback as f64 / RUNS as f64,
            promote as f64 / RUNS as f64,
            samples,
        )
    }

    /// A/A, looked at every tick: a rollback is a false alarm and must stay under α.
    #[test]
    fn equal_versions_are_rolled_back_less_often_than_alpha() {
        let (rollback, promote, samples) = simulate(7, 0.8, 0.8);
        eprintln!(
            "A/A: rollback {rollback}, promote {promote}, median samples {}",
            samples[samples.len() / 2]
        );
        assert!(rollback <= ALPHA, "false rollbacks {rollback}");
        // An equal candidate is not worse: it gets promoted, well before the end.
        assert!(promote >= 0.9, "promoted {promote}");
        let median = samples[samples.len() / 2];
        assert!(median < (TICKS as u64 * PER_TICK.1) / 2, "median {median}");
    }

    /// What the sequence is for: the fixed-horizon z-test, looked at every tick of the
    /// same A/A runs, claims "worse" far more often than its α.
    #[test]
    fn a_fixed_horizon_test_looked_at_every_tick_is_not_valid() {
        let mut rng = SplitMix::new(7);
        let z = 1.959_964; // two-sided 5 %
        let mut worse = 0;
        for _ in 0..RUNS {
            let (mut b, mut c) = (Moments::default(), Moments::default());
            for _ in 0..TICKS {
                b.merge(&Moments::proportion(
                    successes(&mut rng, PER_TICK.0, 0.8),
                    PER_TICK.0,
                ));
                c.merge(&Moments::proportion(
                    successes(&mut rng, PER_TICK.1, 0.8),
                    PER_TICK.1,
                ));
                let (pb, pc) = (b.mean().unwrap(), c.mean().unwrap());
                let se = (pb * (1.0 - pb) / b.n as f64 + pc * (1.0 - pc) / c.n as f64).sqrt();
                if b.n >= 200 && c.n >= 200 && (pc - pb) / se < -z {
                    worse += 1;
                    break;
                }
            }
        }
        let rate = worse as f64 / RUNS as f64;
        eprintln!("A/A, fixed-horizon z-test at every tick: rollback {rate}");
        assert!(
            rate > 2.0 * ALPHA / 2.0,
            "peeking inflates the error: {rate}"
        );
    }

    /// A/B with the minimum effect: rolled back with power ≥ 1 − β (β = 0.2), and a
    /// promote (the false verdict here) stays under α.
    #[test]
    fn a_candidate_worse_by_the_minimum_effect_is_rolled_back() {
        let (rollback, promote, samples) = simulate(8, 0.8, 0.75);
        assert!(rollback >= 0.8, "power {rollback}");
        assert!(promote <= ALPHA, "false promotes {promote}");
        let median = samples[samples.len() / 2] as f64;
        let fixed = fixed_horizon_samples(ALPHA, 0.2, 0.05, 0.1875, 0.16, 4.0);
        eprintln!("A/B: rollback {rollback}, promote {promote}, median samples {median}, fixed horizon {fixed:.0}");
        // The price of looking every tick: more samples than a fixed horizon of the
        // same power, but a verdict without choosing when to look.
        assert!(
            median > fixed && median < 6.0 * fixed,
            "median {median}, fixed {fixed}"
        );
    }

    #[test]
    fn lower_is_better_flips_the_verdict_and_min_samples_holds_it() {
        let s = SequentialSettings {
            higher_is_better: false,
            ..settings()
        };
        let mut b = Moments::default();
        let mut c = Moments::default();
        for i in 0..5000 {
            b.add(10.0 + (i % 7) as f64 * 0.1);
            c.add(12.0 + (i % 7) as f64 * 0.1);
        }
        let cmp = compare(&b, &c, MetricKind::Mean, &s).unwrap();
        assert_eq!(cmp.verdict, Verdict::Rollback, "{cmp:?}");
        assert!(cmp.low < 2.0 && 2.0 < cmp.high, "{cmp:?}");
        let few = Moments::proportion(10, 10);
        let cmp = compare(
            &few,
            &Moments::proportion(0, 10),
            MetricKind::Proportion,
            &s,
        )
        .unwrap();
        assert_eq!(cmp.verdict, Verdict::Continue, "under min_samples");
    }
}
