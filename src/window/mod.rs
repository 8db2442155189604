//! Event-time buckets and windows (ARCHITECTURE.md, "State"). Pure: records, profiles and a `now`
//! in; merged counts out.
//!
//! Each (model, version) has buckets of fixed event-time width in three tiers:
//! fine buckets (`[windows] bucket`, default 1 min) for `fine_retention` (2 h), hour
//! buckets for `hour_retention` (7 d), day buckets for `day_retention` (90 d).
//! [`WindowState::compact`] folds fine buckets into hour buckets and hour buckets into
//! day buckets as they age, and drops day buckets past retention, so the state is
//! bounded by models × versions × features × bins × buckets, never by events.
//!
//! Memory holds less: an index of every bucket (tier and start per series), the
//! buckets being written (changed since the last checkpoint, or of the last two fine
//! widths) and a running sum per evaluated window ([`sum`]). Every other bucket is in
//! the store, read through [`StoredBuckets`] when an event or a fold writes it again,
//! or a window or the history needs it. [`WindowMemory`] caps both parts.
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
use crate::reference::ReferenceProfile;

mod bucket;
mod state;
mod sum;
mod unknown;

pub use bucket::Bucket;
pub use state::{BucketReads, WindowMemory, WindowState};
pub use unknown::{UnknownName, UnknownNames, TOP_UNKNOWN_NAMES};

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

/// Reads the buckets that are not in memory; implemented by [`crate::store`] (a layer
/// above: the windows stay pure).
pub trait StoredBuckets {
    fn bucket(&self, key: &BucketKey) -> Result<Option<Bucket>, BucketReadError>;
}

/// A bucket the store could not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a window bucket could not be read from the store: {0}")]
pub struct BucketReadError(pub String);

/// For state that never had a store: every bucket is in memory.
#[cfg(test)]
pub(crate) struct NoStoredBuckets;

#[cfg(test)]
impl StoredBuckets for NoStoredBuckets {
    fn bucket(&self, _: &BucketKey) -> Result<Option<Bucket>, BucketReadError> {
        Ok(None)
    }
}
