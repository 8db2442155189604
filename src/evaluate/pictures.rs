//! What the HTML report and the alert e-mails draw of a live window: each feature's
//! reference and current distributions (measured against the same reference the
//! window's report used) and a feature statistic per period of the stored history.
//! Pure: buckets and profiles in, [`crate::chart`] data out.

use std::collections::BTreeMap;

use super::{bucket_statistic, window_profile, EvaluationSettings, WindowBuckets, WindowSource};
use crate::chart::{Distribution, Series};
use crate::reference::ReferenceProfile;
use crate::report::FeatureStatistic;
use crate::window::{Bucket, BucketReadError, ProfileSet, Tier};

/// The distributions of every profile feature in the window, in profile order (the
/// order of the window report's features); empty without a profile.
pub(crate) fn window_distributions(
    buckets: &WindowBuckets,
    profiles: &ProfileSet,
    model: &str,
    version: Option<&str>,
) -> Vec<Option<Distribution>> {
    let (profile, rolling) = window_profile(buckets, profiles, model, version);
    let Some(profile) = profile else {
        return Vec::new();
    };
    profile
        .features
        .iter()
        .enumerate()
        .zip(&buckets.current.features)
        .map(|((i, f), counts)| {
            let rolled = rolling.map(|r| f.with_reference_counts(&r.features[i]));
            Some(Distribution::of(rolled.as_ref().unwrap_or(f), counts))
        })
        .collect()
}

/// The buckets merged into periods of `step_ms` (aligned to multiples of it) from
/// `from_ms` to `to_ms`, oldest first; a period without buckets is `None`. A bucket
/// goes to the period of its start (an hour bucket is one hourly period; a day bucket
/// at the edge of the range counts in its first hour).
pub(crate) fn periods(
    buckets: &[(Tier, i64, i64, Bucket)],
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Vec<(i64, Option<Bucket>)> {
    let step = step_ms.max(1);
    let first = from_ms.div_euclid(step) * step;
    let n = ((to_ms - first).max(0) / step + 1) as usize;
    let mut out: Vec<(i64, Option<Bucket>)> =
        (0..n).map(|i| (first + step * i as i64, None)).collect();
    for (_, start, _, b) in buckets {
        let i = (start - first).div_euclid(step);
        if let Some((_, slot)) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            match slot {
                Some(sum) => sum.merge(b),
                None => *slot = Some(b.clone()),
            }
        }
    }
    out
}

/// `stat` of every feature of `profile` per period, by feature name.
pub(crate) fn feature_series(
    periods: &[(i64, Option<Bucket>)],
    profile: &ReferenceProfile,
    stat: &FeatureStatistic,
    settings: &EvaluationSettings,
) -> BTreeMap<String, Series> {
    (0..profile.features.len())
        .map(|i| {
            (
                profile.features[i].name.clone(),
                one_feature_series(periods, profile, i, stat, settings),
            )
        })
        .collect()
}

/// `stat` of the profile's feature `i` per period; a period whose buckets use another
/// profile (or none) has no value. The reference is the profile's (as in the history
/// API), and the threshold drawn is the feature's PSI threshold when `stat` is PSI.
pub(crate) fn one_feature_series(
    periods: &[(i64, Option<Bucket>)],
    profile: &ReferenceProfile,
    i: usize,
    stat: &FeatureStatistic,
    settings: &EvaluationSettings,
) -> Series {
    let points = periods
        .iter()
        .map(|(start, b)| {
            let value = b
                .as_ref()
                .filter(|b| b.events > 0)
                .and_then(|b| bucket_statistic(b, profile, i, stat, settings));
            (*start, value)
        })
        .collect();
    let threshold = (stat.field == "psi").then(|| {
        settings
            .report
            .thresholds
            .get(&profile.features[i].name)
            .copied()
            .unwrap_or(settings.report.psi_threshold)
    });
    Series {
        metric: stat.field.to_string(),
        points,
        threshold,
    }
}

/// One feature of one window, as an alert names it.
pub(crate) struct FeatureQuery<'a> {
    pub model: &'a str,
    pub version: Option<&'a str>,
    pub feature: &'a str,
    /// The window's length.
    pub window_ms: i64,
    pub rolling_reference_ms: Option<i64>,
    /// The statistic drawn over time (a feature statistic; PSI when it is not one).
    pub metric: &'a str,
    /// Drawn as the series' threshold.
    pub threshold: Option<f64>,
    pub now_ms: i64,
}

/// The last hours an alert e-mail's history chart covers, and about how many
/// periods it shows (never finer than the buckets).
pub(crate) const RECENT_MS: i64 = 6 * 3_600_000;
const RECENT_POINTS: i64 = 36;

/// A feature's distributions in the window and its statistic over the last hours
/// (from the first stored bucket in them); `None` when the window has no profile or
/// the profile no such feature.
pub(crate) fn feature_pictures(
    source: &dyn WindowSource,
    settings: &EvaluationSettings,
    q: &FeatureQuery<'_>,
) -> Result<Option<(Distribution, Option<Series>)>, BucketReadError> {
    let buckets = source.window(
        q.model,
        q.version,
        q.window_ms,
        q.rolling_reference_ms,
        q.now_ms,
    )?;
    let profiles = source.profiles();
    let (Some(profile), _) = window_profile(&buckets, &profiles, q.model, q.version) else {
        return Ok(None);
    };
    let Some(i) = profile.features.iter().position(|f| f.name == q.feature) else {
        return Ok(None);
    };
    let Some(distribution) =
        window_distributions(&buckets, &profiles, q.model, q.version).swap_remove(i)
    else {
        return Ok(None);
    };
    let stored = source.history_buckets(q.model, q.version, q.now_ms - RECENT_MS, q.now_ms)?;
    let history = match (
        stored.iter().map(|b| b.1).min(),
        stored.iter().map(|b| b.2).min(),
    ) {
        (Some(first), Some(finest)) => {
            let from = first.max(q.now_ms - RECENT_MS);
            // A whole number of the finest buckets, so periods hold whole buckets.
            let finest = finest.max(1);
            let span = (q.now_ms - from).max(0) / RECENT_POINTS;
            let step = ((span + finest - 1) / finest).max(1) * finest;
            let stat = FeatureStatistic::named(q.metric).or_else(|| FeatureStatistic::named("psi"));
            stat.map(|stat| {
                let p = periods(&stored, from, q.now_ms, step);
                let mut one = one_feature_series(&p, profile, i, stat, settings);
                if stat.field == q.metric {
                    one.threshold = q.threshold.or(one.threshold);
                }
                one
            })
        }
        _ => None,
    };
    Ok(Some((distribution, history)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Cell;
    use crate::reference::test_profile;

    #[test]
    fn buckets_merge_into_their_periods_and_gaps_stay_empty() {
        let profile = test_profile(
            "v",
            &["x"],
            (0..1000).map(|i| vec![Cell::Number((i % 100) as f64)]),
        );
        let bucket = |x: f64, n: u64| {
            let mut b = Bucket::new(Some(&profile));
            profile.features[0].observe_many(&mut b.features[0], &Cell::Number(x), n);
            b.events = n;
            b
        };
        let hour = 3_600_000;
        let buckets = vec![
            (Tier::Fine, 10 * hour + 60_000, 60_000, bucket(5.0, 10)),
            (Tier::Fine, 10 * hour + 120_000, 60_000, bucket(95.0, 10)),
            (Tier::Hour, 12 * hour, hour, bucket(50.0, 30)),
        ];
        let p = periods(&buckets, 10 * hour + 5, 12 * hour + 10, hour);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].0, 10 * hour);
        assert_eq!(p[0].1.as_ref().map(|b| b.events), Some(20));
        assert!(p[1].1.is_none());
        assert_eq!(p[2].1.as_ref().map(|b| b.events), Some(30));

        let settings = EvaluationSettings::default();
        let psi = FeatureStatistic::named("psi").unwrap();
        let series = &feature_series(&p, &profile, psi, &settings)["x"];
        assert_eq!(series.threshold, Some(settings.report.psi_threshold));
        let values: Vec<_> = series.points.iter().map(|p| p.1.is_some()).collect();
        assert_eq!(values, [true, false, true]);
        // Point masses against a uniform reference: a large PSI.
        assert!(series.points[0].1.unwrap() > 1.0, "{series:?}");
    }
}
