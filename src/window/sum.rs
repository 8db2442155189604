//! Windows as running sums: a tick costs what changed since the last one, not a merge
//! of every bucket of every window.
//!
//! A [`WindowSum`] follows one range of bucket starts relative to `now` (a window, or
//! the rolling reference before it) of one model (one version, or all). Its members
//! are the buckets whose start is in the range. Members held in memory (being written,
//! [`super::WindowState`]'s resident buckets) are merged afresh at each evaluation;
//! the others are *settled*: their counts are in `counts`, added when they settled
//! and taken away exactly ([`Bucket::subtract`], integers) when they leave the range,
//! are removed, or are loaded back into memory to be written.
//!
//! What does not subtract — `last_event_ms`, numeric min/max, the float sums of the
//! performance counts — is kept per settled member ([`Scalars`], a few bytes per
//! feature) and recombined at each evaluation in the members' key order, the order
//! [`super::WindowState::range`] merges in: the result equals that full merge to the
//! bit (`tests::running_sums_equal_a_full_merge`).

use std::collections::BTreeMap;

use super::{Bucket, BucketKey};
use crate::reference::FeatureCounts;

/// A range of bucket starts, `[now − from_ms, now − to_ms]`, of one model.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SumKey {
    pub model: String,
    /// `None`: every version.
    pub version: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
}

type Floats = (Option<f64>, Option<[f64; 4]>);

/// What a settled member contributes that [`Bucket::subtract`] cannot take back.
#[derive(Debug, Clone)]
struct Scalars {
    last_event_ms: i64,
    /// (min, max) per feature, when the member uses the sum's profile.
    extrema: Option<Vec<(f64, f64)>>,
    performance: Floats,
    segments: Vec<(String, Floats)>,
}

impl Scalars {
    fn of(b: &Bucket, profile_id: &Option<String>) -> Scalars {
        Scalars {
            last_event_ms: b.last_event_ms,
            extrema: (b.profile_id == *profile_id).then(|| extrema(b)),
            performance: b.performance.float_sums(),
            segments: b
                .performance_by_segment
                .iter()
                .map(|(s, c)| (s.clone(), c.float_sums()))
                .collect(),
        }
    }

    fn heap_bytes(&self) -> usize {
        16 * self.extrema.as_ref().map_or(0, Vec::len)
            + self
                .segments
                .iter()
                .map(|(s, _)| 64 + s.len())
                .sum::<usize>()
    }
}

fn extrema(b: &Bucket) -> Vec<(f64, f64)> {
    b.features
        .iter()
        .map(|f| match f {
            FeatureCounts::Numeric(c) => (c.min, c.max),
            FeatureCounts::Categorical(_) => (f64::INFINITY, f64::NEG_INFINITY),
        })
        .collect()
}

/// Adds float sums the way [`crate::stats::performance::PerformanceCounts::merge`]
/// does: `0.0 + a + b + …` in member order.
fn add_floats(acc: &mut Floats, (l, r): &Floats) {
    if let Some(l) = l {
        acc.0 = Some(acc.0.unwrap_or(0.0) + l);
    }
    if let Some(r) = r {
        let a = acc.1.get_or_insert([0.0; 4]);
        for (a, x) in a.iter_mut().zip(r) {
            *a += x;
        }
    }
}

/// One member: `Some` when settled (its counts are in the sum), `None` when it is
/// held in memory and merged at each evaluation.
type Member = Option<Scalars>;

/// A running sum; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct WindowSum {
    counts: Bucket,
    members: BTreeMap<BucketKey, Member>,
    /// The evaluation round it was last used in.
    used: u64,
}

impl WindowSum {
    pub fn new(counts: Bucket) -> WindowSum {
        WindowSum {
            counts,
            members: BTreeMap::new(),
            used: 0,
        }
    }

    pub fn profile_id(&self) -> &Option<String> {
        &self.counts.profile_id
    }

    pub fn heap_bytes(&self) -> usize {
        self.counts.heap_bytes()
            + self
                .members
                .iter()
                .map(|(k, m)| {
                    96 + k.model.len() + k.version.len() + m.as_ref().map_or(0, Scalars::heap_bytes)
                })
                .sum::<usize>()
    }

    /// A member leaves memory: its counts join the sum.
    fn settle(&mut self, key: &BucketKey, bucket: &Bucket) {
        if let Some(member @ None) = self.members.get_mut(key) {
            self.counts.merge(bucket);
            *member = Some(Scalars::of(bucket, &self.counts.profile_id));
        }
    }

    /// A member is loaded into memory to be written: its stored counts leave the sum.
    fn unsettle(&mut self, key: &BucketKey, stored: &Bucket) {
        if let Some(member @ Some(_)) = self.members.get_mut(key) {
            self.counts.subtract(stored);
            *member = None;
        }
    }

    /// A member is gone (folded into a coarser tier, or past retention); `bucket` is
    /// its value.
    fn remove(&mut self, key: &BucketKey, bucket: &Bucket) {
        if let Some(Some(_)) = self.members.remove(key) {
            self.counts.subtract(bucket);
        }
    }

    /// Brings the members to `wanted` (sorted, the keys now in the range): a member
    /// that left is taken out, a new one added. `value` gives a settled member's
    /// stored bucket, `None` for one held in memory.
    pub fn update<E>(
        &mut self,
        wanted: &[BucketKey],
        mut value: impl FnMut(&BucketKey) -> Result<Option<Bucket>, E>,
    ) -> Result<(), E> {
        let gone: Vec<BucketKey> = self
            .members
            .keys()
            .filter(|k| wanted.binary_search(k).is_err())
            .cloned()
            .collect();
        for key in gone {
            if let Some(Some(_)) = self.members.get(&key) {
                if let Some(b) = value(&key)? {
                    self.counts.subtract(&b);
                }
            }
            self.members.remove(&key);
        }
        for key in wanted {
            if self.members.contains_key(key) {
                continue;
            }
            let member = match value(key)? {
                Some(b) => {
                    self.counts.merge(&b);
                    Some(Scalars::of(&b, &self.counts.profile_id))
                }
                None => None,
            };
            self.members.insert(key.clone(), member);
        }
        Ok(())
    }

    /// The window: the settled counts plus the members in memory (`resident`), with
    /// the parts that do not subtract recombined in member order.
    pub fn value<'a>(&self, resident: impl Fn(&BucketKey) -> Option<&'a Bucket>) -> Bucket {
        let mut out = self.counts.clone();
        let profile_id = out.profile_id.clone();
        let mut last_event_ms = i64::MIN;
        let mut lows_highs: Option<Vec<(f64, f64)>> = None;
        let mut performance: Floats = (None, None);
        let mut segments: BTreeMap<&str, Floats> = BTreeMap::new();
        let mut fold = |last: i64, ext: Option<&[(f64, f64)]>, perf: &Floats| {
            last_event_ms = last_event_ms.max(last);
            if let Some(ext) = ext {
                let acc = lows_highs
                    .get_or_insert_with(|| vec![(f64::INFINITY, f64::NEG_INFINITY); ext.len()]);
                for ((lo, hi), (l, h)) in acc.iter_mut().zip(ext) {
                    *lo = lo.min(*l);
                    *hi = hi.max(*h);
                }
            }
            add_floats(&mut performance, perf);
        };
        for (key, member) in &self.members {
            match member {
                Some(s) => {
                    fold(s.last_event_ms, s.extrema.as_deref(), &s.performance);
                    for (seg, f) in &s.segments {
                        add_floats(segments.entry(seg.as_str()).or_default(), f);
                    }
                }
                None => {
                    let Some(b) = resident(key) else { continue };
                    out.merge(b);
                    let ext = (b.profile_id == profile_id).then(|| extrema(b));
                    fold(b.last_event_ms, ext.as_deref(), &b.performance.float_sums());
                    for (seg, c) in &b.performance_by_segment {
                        add_floats(segments.entry(seg.as_str()).or_default(), &c.float_sums());
                    }
                }
            }
        }
        out.last_event_ms = last_event_ms;
        if let Some(ext) = lows_highs {
            for (f, (lo, hi)) in out.features.iter_mut().zip(ext) {
                if let FeatureCounts::Numeric(c) = f {
                    (c.min, c.max) = (lo, hi);
                }
            }
        } else {
            for f in &mut out.features {
                if let FeatureCounts::Numeric(c) = f {
                    (c.min, c.max) = (f64::INFINITY, f64::NEG_INFINITY);
                }
            }
        }
        out.performance.set_float_sums(performance);
        for (seg, c) in &mut out.performance_by_segment {
            if let Some(f) = segments.get(seg.as_str()) {
                c.set_float_sums(*f);
            }
        }
        out
    }
}

/// Every running sum, within a memory budget.
#[derive(Debug, Clone, Default)]
pub(crate) struct WindowSums {
    sums: BTreeMap<SumKey, WindowSum>,
    /// The evaluation round: sums not used in the last two are dropped.
    round: u64,
    /// Estimated bytes: recounted every round, grown by each new sum.
    bytes: usize,
}

impl WindowSums {
    pub fn get_mut(&mut self, key: &SumKey) -> Option<&mut WindowSum> {
        let round = self.round;
        let sum = self.sums.get_mut(key)?;
        sum.used = round;
        Some(sum)
    }

    pub fn get_or_insert(
        &mut self,
        key: SumKey,
        new: impl FnOnce() -> WindowSum,
    ) -> &mut WindowSum {
        let round = self.round;
        let sum = self.sums.entry(key).or_insert_with(new);
        sum.used = round;
        sum
    }

    /// Counts a sum created (and filled) in this round.
    pub fn count_new(&mut self, key: &SumKey) {
        self.bytes += self.sums.get(key).map_or(0, WindowSum::heap_bytes);
    }

    pub fn remove(&mut self, key: &SumKey) {
        self.sums.remove(key);
    }

    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// A new evaluation round; drops sums nobody evaluated for two rounds (a window
    /// removed from the configuration, a version that stopped).
    pub fn next_round(&mut self) {
        self.round += 1;
        let round = self.round;
        self.sums.retain(|_, s| s.used + 2 >= round);
        self.bytes = self.sums.values().map(WindowSum::heap_bytes).sum();
    }

    pub fn clear(&mut self) {
        self.sums.clear();
        self.bytes = 0;
    }

    /// The sums `key` can be a member of: its model's (contiguous in `SumKey` order),
    /// of its version or of every version.
    fn of_key<'a>(&'a mut self, key: &'a BucketKey) -> impl Iterator<Item = &'a mut WindowSum> {
        let first = SumKey {
            model: key.model.clone(),
            version: None,
            from_ms: i64::MIN,
            to_ms: i64::MIN,
        };
        self.sums
            .range_mut(first..)
            .take_while(move |(k, _)| k.model == key.model)
            .filter(move |(k, _)| k.version.as_ref().is_none_or(|v| *v == key.version))
            .map(|(_, s)| s)
    }

    pub fn settle(&mut self, key: &BucketKey, bucket: &Bucket) {
        self.of_key(key).for_each(|s| s.settle(key, bucket));
    }

    pub fn unsettle(&mut self, key: &BucketKey, stored: &Bucket) {
        self.of_key(key).for_each(|s| s.unsettle(key, stored));
    }

    pub fn remove_member(&mut self, key: &BucketKey, bucket: &Bucket) {
        self.of_key(key).for_each(|s| s.remove(key, bucket));
    }
}
