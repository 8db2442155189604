//! Event-time buckets and windows (ARCHITECTURE.md, "State"). Pure: records, profiles and a `now`
//! in; merged counts out.
//!
//! Each (model, version) has buckets of fixed event-time width in three tiers:
//! fine buckets (`[windows] bucket`, default 1 min) for `fine_retention` (2 h), hour
//! buckets for `hour_retention` (7 d), day buckets for `day_retention` (90 d).
//! [`WindowState::compact`] folds fine buckets into hour buckets and hour buckets into
//! day buckets as they age, and drops day buckets past retention, so memory is bounded
//! by models × versions × features × bins × buckets, never by events.
//!
//! A late event is added to the bucket of its own event time, in whatever tier covers
//! that time now; an event older than every tier is counted as too late and dropped.
//! A window of width W at `now` is the merge of every bucket that starts at or after
//! `now − W`; for windows longer than the fine retention its far edge is therefore
//! exact to one coarse bucket.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dataset::Cell;
use crate::event::{FeatureValue, Prediction, PredictionRecord, PREDICTION_FEATURE};
use crate::join::{record_outcome, LabelSettings, Outcome};
use crate::reference::{FeatureCounts, ReferenceProfile};
use crate::stats::latency::LatencyHistogram;
use crate::stats::performance::PerformanceCounts;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    Fine,
    Hour,
    Day,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Fine => "fine",
            Tier::Hour => "hour",
            Tier::Day => "day",
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
    pub(crate) fn from_code(c: u8) -> Option<Tier> {
        [Tier::Fine, Tier::Hour, Tier::Day].get(c as usize).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub model: String,
    pub version: String,
    pub tier: Tier,
    /// Event-time start of the bucket, ms since the epoch.
    pub start_ms: i64,
}

/// Everything measured in one bucket; every field merges by addition (or max).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub events: u64,
    /// Latest event time seen, ms.
    pub last_event_ms: i64,
    /// The profile whose bins `features` use; `None` when the model has none.
    pub profile_id: Option<String>,
    /// Counts per profile feature, in profile order.
    pub features: Vec<FeatureCounts>,
    /// Values of features the profile does not know.
    pub unknown_features: u64,
    /// `latency_ms` values.
    pub latency: LatencyHistogram,
    /// Outcomes of the predictions in this bucket whose labels have arrived.
    #[serde(default)]
    pub performance: PerformanceCounts,
    /// The same, per value of the configured segment key (capped).
    #[serde(default)]
    pub performance_by_segment: BTreeMap<String, PerformanceCounts>,
}

impl Bucket {
    pub fn new(profile: Option<&ReferenceProfile>) -> Bucket {
        Bucket {
            events: 0,
            last_event_ms: i64::MIN,
            profile_id: profile.map(|p| p.id.clone()),
            features: profile
                .map(|p| p.features.iter().map(|f| f.empty_counts()).collect())
                .unwrap_or_default(),
            unknown_features: 0,
            latency: LatencyHistogram::default(),
            performance: PerformanceCounts::default(),
            performance_by_segment: BTreeMap::new(),
        }
    }

    /// Adds another bucket. Feature counts are added only when both use the same
    /// profile; a bucket of an older profile keeps contributing events and latency.
    pub fn merge(&mut self, other: &Bucket) {
        // Segments are capped when outcomes are added; a merge of buckets keeps every
        // segment they hold (at most buckets × `max_segments`).
        for (segment, counts) in &other.performance_by_segment {
            self.performance_by_segment
                .entry(segment.clone())
                .or_default()
                .merge(counts);
        }
        self.events += other.events;
        self.last_event_ms = self.last_event_ms.max(other.last_event_ms);
        self.unknown_features += other.unknown_features;
        self.latency.merge(&other.latency);
        self.performance.merge(&other.performance);
        if self.profile_id == other.profile_id {
            for (a, b) in self.features.iter_mut().zip(&other.features) {
                match (a, b) {
                    (FeatureCounts::Numeric(a), FeatureCounts::Numeric(b)) => a.merge(b),
                    (FeatureCounts::Categorical(a), FeatureCounts::Categorical(b)) => a.merge(b),
                    _ => {}
                }
            }
        }
    }
}

/// A reference profile with a name → feature index for fast lookup.
#[derive(Debug)]
pub struct IndexedProfile {
    pub profile: ReferenceProfile,
    index: HashMap<String, usize>,
}

impl IndexedProfile {
    pub fn new(profile: ReferenceProfile) -> IndexedProfile {
        let index = profile
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        IndexedProfile { profile, index }
    }
}

/// The reference profile of each model: version-specific when one was imported for
/// that version, else the model's newest.
#[derive(Debug, Default)]
pub struct ProfileSet {
    /// model → version → profile: nested, so that a lookup borrows the names.
    exact: HashMap<String, HashMap<String, Arc<IndexedProfile>>>,
    newest: HashMap<String, Arc<IndexedProfile>>,
}

impl ProfileSet {
    /// From profiles oldest first (as the store lists them).
    pub fn new(profiles: Vec<ReferenceProfile>) -> ProfileSet {
        let mut set = ProfileSet::default();
        for p in profiles {
            let p = Arc::new(IndexedProfile::new(p));
            let (m, v) = (p.profile.model.clone(), p.profile.version.clone());
            set.newest.insert(m.clone(), p.clone());
            set.exact.entry(m).or_default().insert(v, p);
        }
        set
    }

    pub fn get(&self, model: &str, version: &str) -> Option<&Arc<IndexedProfile>> {
        self.exact
            .get(model)
            .and_then(|versions| versions.get(version))
            .or_else(|| self.newest.get(model))
    }

    /// Profiles, one per (model, version).
    pub fn len(&self) -> usize {
        self.exact.values().map(HashMap::len).sum()
    }

    /// The models that have at least one profile.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.newest.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct WindowSettings {
    pub bucket_ms: i64,
    pub fine_retention_ms: i64,
    pub hour_retention_ms: i64,
    pub day_retention_ms: i64,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            bucket_ms: 60_000,
            fine_retention_ms: 2 * HOUR_MS,
            hour_retention_ms: 7 * DAY_MS,
            day_retention_ms: 90 * DAY_MS,
        }
    }
}

impl WindowSettings {
    pub(crate) fn width(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Fine => self.bucket_ms,
            Tier::Hour => HOUR_MS,
            Tier::Day => DAY_MS,
        }
    }

    /// The tier that holds event time `ts` at `now`, or `None` when it is too late.
    pub(crate) fn tier_for(&self, ts: i64, now: i64) -> Option<Tier> {
        let age = now.saturating_sub(ts);
        if age < self.fine_retention_ms {
            Some(Tier::Fine)
        } else if age < self.hour_retention_ms {
            Some(Tier::Hour)
        } else if age < self.day_retention_ms {
            Some(Tier::Day)
        } else {
            None
        }
    }
}

fn floor_to(ts: i64, width: i64) -> i64 {
    ts.div_euclid(width) * width
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    Added,
    /// Older than every tier's retention: counted, not added.
    TooLate,
}

/// Keys recently marked dirty, so that the per-record path finds its map entry
/// without building an owned key (two `String`s) each time. A cache, not state: it
/// holds only keys present in their map and in its dirty set, and is cleared whenever
/// either can lose a key (a checkpoint, compaction); equality ignores it.
#[derive(Debug, Clone)]
pub(crate) struct RecentKeys<K>(Vec<K>);

impl<K> Default for RecentKeys<K> {
    fn default() -> Self {
        RecentKeys(Vec::new())
    }
}

/// Enough for the model/version pairs or buckets a stream interleaves at once.
const RECENT_KEYS: usize = 16;

impl<K> RecentKeys<K> {
    pub fn find(&self, matches: impl Fn(&K) -> bool) -> Option<&K> {
        self.0.iter().rev().find(|k| matches(k))
    }

    pub(crate) fn remember(&mut self, key: K) {
        if self.0.len() == RECENT_KEYS {
            self.0.remove(0);
        }
        self.0.push(key);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl<K> PartialEq for RecentKeys<K> {
    fn eq(&self, _: &RecentKeys<K>) -> bool {
        true
    }
}

/// All buckets of all models, with the changes since the last checkpoint.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WindowState {
    buckets: BTreeMap<BucketKey, Bucket>,
    dirty: BTreeSet<BucketKey>,
    removed: BTreeSet<BucketKey>,
    recent: RecentKeys<BucketKey>,
}

impl WindowState {
    pub(crate) fn restored(buckets: BTreeMap<BucketKey, Bucket>) -> WindowState {
        WindowState {
            buckets,
            ..Default::default()
        }
    }

    pub fn buckets(&self) -> &BTreeMap<BucketKey, Bucket> {
        &self.buckets
    }

    /// Adds one prediction record to the bucket of its event time.
    pub(crate) fn observe(
        &mut self,
        record: &PredictionRecord,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        now_ms: i64,
    ) -> Observed {
        let Some(bucket) = self.bucket_mut(
            &record.model,
            &record.version,
            record.ts_ms,
            profile,
            settings,
            now_ms,
        ) else {
            return Observed::TooLate;
        };
        bucket.events += 1;
        bucket.last_event_ms = bucket.last_event_ms.max(record.ts_ms);
        if let Some(ms) = record.latency_ms {
            bucket.latency.add(ms);
        }
        if let Some(p) = profile.filter(|p| Some(&p.profile.id) == bucket.profile_id.as_ref()) {
            let mut touched = vec![false; p.profile.features.len()];
            for (name, value) in &record.features {
                let Some(&i) = p.index.get(name) else {
                    bucket.unknown_features += u64::from(*value != FeatureValue::Missing);
                    continue;
                };
                touched[i] = true;
                let cell = match value {
                    FeatureValue::Number(v) => Cell::Number(*v),
                    FeatureValue::Category(s) => Cell::Text(s),
                    FeatureValue::Missing => Cell::Missing,
                };
                p.profile.features[i].observe(&mut bucket.features[i], &cell);
            }
            if let Some(&i) = p.index.get(PREDICTION_FEATURE) {
                if !touched[i] {
                    touched[i] = true;
                    let cell = prediction_cell(record.prediction.as_ref());
                    p.profile.features[i].observe(&mut bucket.features[i], &cell);
                }
            }
            for (i, t) in touched.iter().enumerate() {
                if !t {
                    p.profile.features[i].observe(&mut bucket.features[i], &Cell::Missing);
                }
            }
        }
        Observed::Added
    }

    /// Adds a joined outcome to the bucket of its prediction's event time.
    pub(crate) fn observe_outcome(
        &mut self,
        outcome: &Outcome,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        labels: &LabelSettings,
        now_ms: i64,
    ) -> Observed {
        let Some(bucket) = self.bucket_mut(
            &outcome.model,
            &outcome.version,
            outcome.ts_ms,
            profile,
            settings,
            now_ms,
        ) else {
            return Observed::TooLate;
        };
        record_outcome(
            &mut bucket.performance,
            &mut bucket.performance_by_segment,
            outcome,
            labels,
        );
        Observed::Added
    }

    /// The bucket that holds event time `ts_ms` now (created if needed, marked dirty),
    /// or `None` when `ts_ms` is older than every tier.
    fn bucket_mut(
        &mut self,
        model: &str,
        version: &str,
        ts_ms: i64,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        now_ms: i64,
    ) -> Option<&mut Bucket> {
        let tier = settings.tier_for(ts_ms, now_ms)?;
        let start_ms = floor_to(ts_ms, settings.width(tier));
        if let Some(key) = self.recent.find(|k| {
            k.start_ms == start_ms && k.tier == tier && k.model == model && k.version == version
        }) {
            if self.buckets.contains_key(key) {
                return self.buckets.get_mut(key);
            }
        }
        let key = BucketKey {
            model: model.to_string(),
            version: version.to_string(),
            tier,
            start_ms,
        };
        self.removed.remove(&key);
        self.dirty.insert(key.clone());
        self.recent.remember(key.clone());
        Some(
            self.buckets
                .entry(key)
                .or_insert_with(|| Bucket::new(profile.map(|p| &p.profile))),
        )
    }

    /// Folds aged fine buckets into hour buckets and aged hour buckets into day
    /// buckets; drops day buckets past retention.
    pub(crate) fn compact(&mut self, settings: &WindowSettings, now_ms: i64) {
        self.recent.clear();
        // A bucket folded into the next tier may itself be aged there: one pass per tier.
        for _ in 0..3 {
            self.compact_once(settings, now_ms);
        }
    }

    fn compact_once(&mut self, settings: &WindowSettings, now_ms: i64) {
        let aged: Vec<BucketKey> = self
            .buckets
            .keys()
            .filter(|k| {
                let end = k.start_ms + settings.width(k.tier);
                match k.tier {
                    Tier::Fine => end <= now_ms - settings.fine_retention_ms,
                    Tier::Hour => end <= now_ms - settings.hour_retention_ms,
                    Tier::Day => end <= now_ms - settings.day_retention_ms,
                }
            })
            .cloned()
            .collect();
        for key in aged {
            let Some(bucket) = self.buckets.remove(&key) else {
                continue;
            };
            self.dirty.remove(&key);
            self.removed.insert(key.clone());
            let target = match key.tier {
                Tier::Fine => Tier::Hour,
                Tier::Hour => Tier::Day,
                Tier::Day => continue,
            };
            let target_key = BucketKey {
                tier: target,
                start_ms: floor_to(key.start_ms, settings.width(target)),
                ..key
            };
            match self.buckets.get_mut(&target_key) {
                Some(existing) => existing.merge(&bucket),
                None => {
                    self.buckets.insert(target_key.clone(), bucket);
                }
            }
            self.removed.remove(&target_key);
            self.dirty.insert(target_key);
        }
    }

    /// The merge of every bucket of `model` (one version, or all) that starts at or
    /// after `now − window` and uses `profile_id`'s bins.
    pub fn window(
        &self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        window_ms: i64,
        now_ms: i64,
    ) -> Bucket {
        self.range(model, version, profile, now_ms - window_ms, now_ms)
    }

    /// The merge of every bucket of `model` (one version, or all) whose start is in
    /// [from, to].
    pub fn range(
        &self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        from_ms: i64,
        to_ms: i64,
    ) -> Bucket {
        let mut out = Bucket::new(profile);
        for (k, b) in &self.buckets {
            if k.model == model
                && version.is_none_or(|v| v == k.version)
                && (from_ms..=to_ms).contains(&k.start_ms)
            {
                out.merge(b);
            }
        }
        out
    }

    /// The buckets of `model` (one version, or all merged per tier and start) that
    /// start in [from, to], oldest first.
    pub(crate) fn buckets_between(
        &self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<(Tier, i64, Bucket)> {
        let mut out: BTreeMap<(i64, Tier), Bucket> = BTreeMap::new();
        for (k, b) in &self.buckets {
            if k.model == model
                && version.is_none_or(|v| v == k.version)
                && (from_ms..=to_ms).contains(&k.start_ms)
            {
                out.entry((k.start_ms, k.tier))
                    .or_insert_with(|| Bucket::new(profile))
                    .merge(b);
            }
        }
        out.into_iter()
            .map(|((start, tier), b)| (tier, start, b))
            .collect()
    }

    /// (model, version) pairs that have buckets.
    pub fn series(&self) -> BTreeSet<(String, String)> {
        self.buckets
            .keys()
            .map(|k| (k.model.clone(), k.version.clone()))
            .collect()
    }

    /// Buckets changed and removed since [`WindowState::mark_clean`].
    pub fn changes(&self) -> (Vec<(BucketKey, Bucket)>, Vec<BucketKey>) {
        (
            self.dirty
                .iter()
                .filter_map(|k| self.buckets.get(k).map(|b| (k.clone(), b.clone())))
                .collect(),
            self.removed.iter().cloned().collect(),
        )
    }

    pub(crate) fn mark_clean(&mut self) {
        self.dirty.clear();
        self.removed.clear();
        self.recent.clear();
    }
}

/// The prediction as a feature value: the score when there is one, else the class.
pub(crate) fn prediction_cell(prediction: Option<&Prediction>) -> Cell<'_> {
    match prediction {
        Some(Prediction { score: Some(s), .. }) => Cell::Number(*s),
        Some(Prediction { class: Some(c), .. }) => Cell::Text(c),
        _ => Cell::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::test_profile;

    fn profile() -> ReferenceProfile {
        let rows = (0..100).map(|i| vec![Cell::Number(i as f64), Cell::Text(["a", "b"][i % 2])]);
        test_profile("v1", &["x", "plan"], rows)
    }

    fn record(ts_ms: i64, x: f64) -> PredictionRecord {
        PredictionRecord {
            model: "m".into(),
            version: "v1".into(),
            id: None,
            ts_ms,
            features: vec![
                ("x".into(), FeatureValue::Number(x)),
                ("zz".into(), FeatureValue::Number(1.0)),
            ],
            prediction: None,
            latency_ms: Some(10.0),
            segment: vec![],
        }
    }

    #[test]
    fn buckets_by_event_time_and_windows_merge_them() {
        let p = IndexedProfile::new(profile());
        let s = WindowSettings::default();
        let now = 10 * HOUR_MS;
        let mut w = WindowState::default();
        for i in 0..120 {
            // One event per minute over the last two hours, newest last.
            w.observe(
                &record(now - (119 - i) * 60_000, i as f64),
                Some(&p),
                &s,
                now,
            );
        }
        assert_eq!(w.buckets().len(), 120);
        let five = w.window("m", None, Some(&p.profile), 5 * 60_000, now);
        assert_eq!(five.events, 6, "buckets starting at or after now − 5m");
        let hour = w.window("m", Some("v1"), Some(&p.profile), HOUR_MS, now);
        assert_eq!(hour.events, 61);
        assert_eq!(hour.unknown_features, 61);
        let FeatureCounts::Categorical(plan) = &hour.features[1] else {
            panic!()
        };
        assert_eq!(plan.missing, 61, "absent feature counts as missing");
        assert_eq!(hour.latency.count(), 61);
    }

    #[test]
    fn compaction_keeps_totals_and_late_events_find_their_tier() {
        let p = IndexedProfile::new(profile());
        let s = WindowSettings::default();
        let start = 100 * DAY_MS;
        let mut w = WindowState::default();
        for i in 0..180 {
            w.observe(
                &record(start + i * 60_000, 1.0),
                Some(&p),
                &s,
                start + i * 60_000,
            );
        }
        let later = start + 10 * HOUR_MS;
        w.compact(&s, later);
        assert!(w.buckets().keys().all(|k| k.tier == Tier::Hour));
        let all = w.window("m", None, Some(&p.profile), 30 * DAY_MS, later);
        assert_eq!(all.events, 180);
        let (changed, removed) = w.changes();
        assert_eq!(removed.len(), 180);
        assert_eq!(changed.len(), 3);
        // 3 days old goes to an hour bucket, 10 days to a day bucket, 100 is too late.
        assert_eq!(
            w.observe(&record(later - 3 * DAY_MS, 1.0), Some(&p), &s, later),
            Observed::Added
        );
        assert!(!w.buckets().keys().any(|k| k.tier == Tier::Day));
        assert_eq!(
            w.observe(&record(later - 10 * DAY_MS, 1.0), Some(&p), &s, later),
            Observed::Added
        );
        assert!(w.buckets().keys().any(|k| k.tier == Tier::Day));
        assert_eq!(
            w.observe(&record(later - 100 * DAY_MS, 1.0), Some(&p), &s, later),
            Observed::TooLate
        );
        // Day buckets past retention are dropped.
        w.compact(&s, later + 200 * DAY_MS);
        assert!(w.buckets().is_empty());
    }
}
