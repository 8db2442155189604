//! [`WindowState`]: the buckets of every (model, version), their index, the buckets
//! being written and the running window sums, with their share of the memory budget
//! ([`WindowMemory`]).

use super::*;
/// Bucket reads since the last call of [`WindowState::take_reads`]: found in memory
/// or read from the store.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct BucketReads {
    pub memory: u64,
    pub store: u64,
}

/// The memory the windows may hold (shares of `[storage] memory_budget`, see
/// [`WindowMemory::from_budget`]).
#[derive(Debug, Clone, Copy)]
pub struct WindowMemory {
    /// Buckets in memory: changed since the last checkpoint, or still being written.
    /// Beyond it the ingest checkpoints early and clean buckets leave memory.
    pub resident_bytes: usize,
    /// Running window sums; beyond it, windows are merged from their buckets at each
    /// evaluation (slower, the same result).
    pub sums_bytes: usize,
}

impl WindowMemory {
    /// Shares of the budget; the store's page cache takes
    /// [`crate::store::StoreSettings::CACHE_SHARE`], the rest is the join's changes
    /// between checkpoints, Kafka's buffers and the program (docs/resources.md).
    pub const RESIDENT_SHARE: f64 = 0.1;
    pub const SUMS_SHARE: f64 = 0.35;

    pub fn from_budget(memory_budget: u64) -> WindowMemory {
        WindowMemory {
            resident_bytes: (memory_budget as f64 * Self::RESIDENT_SHARE) as usize,
            sums_bytes: (memory_budget as f64 * Self::SUMS_SHARE) as usize,
        }
    }
}

impl Default for WindowMemory {
    fn default() -> Self {
        WindowMemory::from_budget(512 << 20)
    }
}

/// The bucket starts of one (model, version), every tier, in key order.
#[derive(Debug, Clone, Default)]
struct SeriesIndex {
    keys: BTreeSet<(Tier, i64)>,
    /// Newest event time of the buckets that left memory (and of the store at start).
    newest_event_ms: i64,
}

/// (model, version)
type Series = (String, String);

/// Every bucket of every model: an index of all of them, the ones in memory, the
/// changes since the last checkpoint and the running window sums. A bucket not in
/// memory is in the store and read through [`StoredBuckets`] when written or
/// evaluated.
#[derive(Debug, Default, Clone)]
pub struct WindowState {
    index: BTreeMap<Series, SeriesIndex>,
    /// Buckets in memory: every dirty one, and clean ones still being written.
    resident: BTreeMap<BucketKey, Bucket>,
    /// Estimated bytes of `resident`, counted as buckets come in.
    resident_bytes: usize,
    dirty: BTreeSet<BucketKey>,
    removed: BTreeSet<BucketKey>,
    recent: RecentKeys<BucketKey>,
    sums: sum::WindowSums,
    /// Per model, the most frequent feature names its profile does not know.
    unknown_names: BTreeMap<String, UnknownNames>,
    failure: Option<BucketReadError>,
    reads: BucketReads,
}

/// Windows of at most this many buckets are merged at each evaluation rather than
/// kept as running sums.
const MERGED_DIRECTLY: usize = 8;

/// The index and the changes; buckets in memory that are clean, the sums and the read
/// counters are caches.
impl PartialEq for WindowState {
    fn eq(&self, other: &WindowState) -> bool {
        let keys = |w: &WindowState| {
            w.index
                .iter()
                .map(|(s, i)| (s.clone(), i.keys.clone()))
                .collect::<Vec<_>>()
        };
        keys(self) == keys(other)
            && self.dirty == other.dirty
            && self.removed == other.removed
            && self.changes() == other.changes()
    }
}

impl WindowState {
    /// From the bucket keys of a checkpoint; the newest event of each series is read
    /// from the last bucket of each tier.
    pub(crate) fn restored(
        keys: Vec<BucketKey>,
        stored: &dyn StoredBuckets,
    ) -> Result<WindowState, BucketReadError> {
        let mut w = WindowState::default();
        for k in keys {
            w.index
                .entry((k.model, k.version))
                .or_insert_with(|| SeriesIndex {
                    newest_event_ms: i64::MIN,
                    ..Default::default()
                })
                .keys
                .insert((k.tier, k.start_ms));
        }
        for ((model, version), series) in &mut w.index {
            for tier in [Tier::Fine, Tier::Hour, Tier::Day] {
                let last = series
                    .keys
                    .range((tier, i64::MIN)..=(tier, i64::MAX))
                    .next_back();
                let Some(&(tier, start_ms)) = last else {
                    continue;
                };
                let key = BucketKey {
                    model: model.clone(),
                    version: version.clone(),
                    tier,
                    start_ms,
                };
                if let Some(b) = stored.bucket(&key)? {
                    series.newest_event_ms = series.newest_event_ms.max(b.last_event_ms);
                }
            }
        }
        Ok(w)
    }

    /// Adds one prediction record to the bucket of its event time.
    pub(crate) fn observe(
        &mut self,
        record: &PredictionRecord,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        now_ms: i64,
        stored: &dyn StoredBuckets,
    ) -> Observed {
        let Some(bucket) = self.bucket_mut(
            &record.model,
            &record.version,
            record.ts_ms,
            profile,
            settings,
            now_ms,
            stored,
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
            let mut unknown = Vec::new();
            for (name, value) in &record.features {
                let Some(&i) = p.index.get(name) else {
                    if *value != FeatureValue::Missing {
                        bucket.unknown_features += 1;
                        unknown.push(name);
                    }
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
            if !unknown.is_empty() {
                let names = match self.unknown_names.get_mut(&record.model) {
                    Some(n) => n,
                    None => self.unknown_names.entry(record.model.clone()).or_default(),
                };
                unknown.into_iter().for_each(|n| names.add(n));
            }
        }
        Observed::Added
    }

    /// The most frequent feature names `model`'s profile does not know.
    pub fn unknown_names(&self, model: &str) -> Vec<UnknownName> {
        self.unknown_names
            .get(model)
            .map(UnknownNames::top)
            .unwrap_or_default()
    }

    /// Adds a joined outcome to the bucket of its prediction's event time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe_outcome(
        &mut self,
        outcome: &Outcome,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        labels: &LabelSettings,
        now_ms: i64,
        stored: &dyn StoredBuckets,
    ) -> Observed {
        let Some(bucket) = self.bucket_mut(
            &outcome.model,
            &outcome.version,
            outcome.ts_ms,
            profile,
            settings,
            now_ms,
            stored,
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

    /// Adds a shadow pair to its candidate prediction's bucket, under its deployment.
    pub(crate) fn observe_pair(
        &mut self,
        pair: &crate::join::PairOutcome,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        now_ms: i64,
        stored: &dyn StoredBuckets,
    ) -> Observed {
        let c = &pair.candidate;
        let Some(bucket) = self.bucket_mut(
            &pair.model,
            &c.version,
            c.ts_ms,
            profile,
            settings,
            now_ms,
            stored,
        ) else {
            return Observed::TooLate;
        };
        let counts = bucket.shadow.entry(pair.deployment.clone()).or_default();
        if let Some(o) = &pair.pair {
            counts.add_pair(o);
        }
        if let Some(l) = pair.labelled {
            counts.add_labelled(l);
        }
        Observed::Added
    }

    /// The bucket that holds event time `ts_ms` now (read from the store or created
    /// if needed, marked dirty), or `None` when `ts_ms` is older than every tier.
    #[allow(clippy::too_many_arguments)]
    fn bucket_mut(
        &mut self,
        model: &str,
        version: &str,
        ts_ms: i64,
        profile: Option<&IndexedProfile>,
        settings: &WindowSettings,
        now_ms: i64,
        stored: &dyn StoredBuckets,
    ) -> Option<&mut Bucket> {
        let tier = settings.tier_for(ts_ms, now_ms)?;
        let start_ms = floor_to(ts_ms, settings.width(tier));
        if let Some(key) = self.recent.find(|k| {
            k.start_ms == start_ms && k.tier == tier && k.model == model && k.version == version
        }) {
            if self.resident.contains_key(key) {
                return self.resident.get_mut(key);
            }
        }
        let key = BucketKey {
            model: model.to_string(),
            version: version.to_string(),
            tier,
            start_ms,
        };
        self.recent.remember(key.clone());
        Some(self.writable(key, profile.map(|p| &p.profile), stored))
    }

    /// The bucket of `key` in memory, marked dirty: as it is, read from the store, or
    /// new. A bucket read back leaves the running sums it had settled in.
    fn writable(
        &mut self,
        key: BucketKey,
        profile: Option<&ReferenceProfile>,
        stored: &dyn StoredBuckets,
    ) -> &mut Bucket {
        self.removed.remove(&key);
        self.dirty.insert(key.clone());
        if self.resident.contains_key(&key) {
            self.reads.memory += 1;
        } else {
            let series = self
                .index
                .entry((key.model.clone(), key.version.clone()))
                .or_insert_with(|| SeriesIndex {
                    newest_event_ms: i64::MIN,
                    ..Default::default()
                });
            let known = !series.keys.insert((key.tier, key.start_ms));
            let bucket = if known {
                self.reads.store += 1;
                match stored.bucket(&key) {
                    Ok(Some(b)) => {
                        self.sums.unsettle(&key, &b);
                        Some(b)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        // The checkpoint that would persist this state fails instead
                        // (the daemon restarts from the last one); the sums may have
                        // missed the bucket.
                        self.failure.get_or_insert(e);
                        self.sums.clear();
                        None
                    }
                }
            } else {
                None
            };
            let bucket = bucket.unwrap_or_else(|| Bucket::new(profile));
            self.resident_bytes += bucket.heap_bytes();
            self.resident.insert(key.clone(), bucket);
        }
        self.resident
            .get_mut(&key)
            .expect("a resident bucket was just ensured")
    }

    /// The value of a bucket that exists, from memory or the store.
    fn read(
        &mut self,
        key: &BucketKey,
        stored: &dyn StoredBuckets,
    ) -> Result<Option<Bucket>, BucketReadError> {
        read_bucket(&self.resident, &mut self.reads, key, stored)
    }

    /// Folds aged fine buckets into hour buckets and aged hour buckets into day
    /// buckets; drops day buckets past retention. Also starts a new evaluation round
    /// of the running sums (see [`sum::WindowSums::next_round`]).
    pub(crate) fn compact(
        &mut self,
        settings: &WindowSettings,
        now_ms: i64,
        stored: &dyn StoredBuckets,
    ) {
        self.recent.clear();
        self.sums.next_round();
        // A bucket folded into the next tier may itself be aged there: one pass per tier.
        for _ in 0..3 {
            self.compact_once(settings, now_ms, stored);
        }
    }

    fn compact_once(&mut self, settings: &WindowSettings, now_ms: i64, stored: &dyn StoredBuckets) {
        let mut aged = Vec::new();
        for ((model, version), series) in &self.index {
            for tier in [Tier::Fine, Tier::Hour, Tier::Day] {
                let retention = match tier {
                    Tier::Fine => settings.fine_retention_ms,
                    Tier::Hour => settings.hour_retention_ms,
                    Tier::Day => settings.day_retention_ms,
                };
                // Aged: the bucket ends at or before `now − retention`.
                let last_start = now_ms - retention - settings.width(tier);
                for &(tier, start_ms) in series.keys.range((tier, i64::MIN)..=(tier, last_start)) {
                    aged.push(BucketKey {
                        model: model.clone(),
                        version: version.clone(),
                        tier,
                        start_ms,
                    });
                }
            }
        }
        for key in aged {
            let bucket = match self.read(&key, stored) {
                Ok(Some(b)) => b,
                Ok(None) => Bucket::new(None),
                Err(e) => {
                    // Left in place: folded at a later tick; the next checkpoint fails.
                    self.failure.get_or_insert(e);
                    continue;
                }
            };
            self.forget(&key, &bucket);
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
            match self.resident.contains_key(&target_key) || self.index_has(&target_key) {
                true => self.writable(target_key, None, stored).merge(&bucket),
                false => {
                    // A new bucket takes the folded one whole (its profile included).
                    self.writable(target_key.clone(), None, stored);
                    let bytes = bucket.heap_bytes();
                    if let Some(b) = self.resident.get_mut(&target_key) {
                        *b = bucket;
                    }
                    self.resident_bytes += bytes;
                }
            }
        }
    }

    fn index_has(&self, key: &BucketKey) -> bool {
        self.index
            .get(&(key.model.clone(), key.version.clone()))
            .is_some_and(|s| s.keys.contains(&(key.tier, key.start_ms)))
    }

    /// Removes a bucket (its value is `bucket`) from memory, the index and the sums;
    /// the store drops it at the next checkpoint.
    fn forget(&mut self, key: &BucketKey, bucket: &Bucket) {
        if self.resident.remove(key).is_some() {
            self.resident_bytes = self.resident_bytes.saturating_sub(bucket.heap_bytes());
        }
        self.dirty.remove(key);
        self.removed.insert(key.clone());
        self.sums.remove_member(key, bucket);
        let series = (key.model.clone(), key.version.clone());
        if let Some(s) = self.index.get_mut(&series) {
            s.keys.remove(&(key.tier, key.start_ms));
            s.newest_event_ms = s.newest_event_ms.max(bucket.last_event_ms);
            if s.keys.is_empty() {
                self.index.remove(&series);
            }
        }
    }

    /// The keys of `model`'s buckets (one version, or all) whose start is in
    /// [from, to], in key order.
    fn keys_between(
        &self,
        model: &str,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<BucketKey> {
        let mut out = Vec::new();
        if from_ms > to_ms {
            return out;
        }
        let first = (model.to_string(), version.unwrap_or("").to_string());
        for ((m, v), series) in self.index.range(first..) {
            if m != model || version.is_some_and(|want| want != v) {
                break;
            }
            for tier in [Tier::Fine, Tier::Hour, Tier::Day] {
                for &(tier, start_ms) in series.keys.range((tier, from_ms)..=(tier, to_ms)) {
                    out.push(BucketKey {
                        model: m.clone(),
                        version: v.clone(),
                        tier,
                        start_ms,
                    });
                }
            }
        }
        out
    }

    /// The merge of every bucket of `model` (one version, or all) that starts at or
    /// after `now − window`: a running sum when one is kept (or fits the budget),
    /// else a full merge.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn window(
        &mut self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        window_ms: i64,
        now_ms: i64,
        memory: &WindowMemory,
        stored: &dyn StoredBuckets,
    ) -> Result<Bucket, BucketReadError> {
        self.sum_between(
            model,
            version,
            profile,
            (window_ms, 0),
            now_ms,
            memory,
            stored,
        )
    }

    /// [`WindowState::range`] over `[now − back.0, now − back.1]`, kept as a running
    /// sum while the sums fit `memory`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sum_between(
        &mut self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        back: (i64, i64),
        now_ms: i64,
        memory: &WindowMemory,
        stored: &dyn StoredBuckets,
    ) -> Result<Bucket, BucketReadError> {
        let key = sum::SumKey {
            model: model.to_string(),
            version: version.map(str::to_string),
            from_ms: back.0,
            to_ms: back.1,
        };
        let wanted = self.keys_between(model, version, now_ms - back.0, now_ms - back.1);
        if wanted.len() <= MERGED_DIRECTLY {
            // A few buckets (a 5-minute window) merge faster than a sum is kept, and
            // the memory goes to the long windows.
            self.sums.remove(&key);
            return self.merge_keys(&wanted, profile, stored);
        }
        let profile_id = profile.map(|p| p.id.clone());
        if self
            .sums
            .get_mut(&key)
            .is_some_and(|s| *s.profile_id() != profile_id)
        {
            self.sums.remove(&key);
        }
        let new = self.sums.get_mut(&key).is_none();
        if new && self.sums.heap_bytes() > memory.sums_bytes {
            return self.merge_keys(&wanted, profile, stored);
        }
        let (resident, reads) = (&self.resident, &mut self.reads);
        let sum = self
            .sums
            .get_or_insert(key.clone(), || sum::WindowSum::new(Bucket::new(profile)));
        let updated = sum.update(&wanted, |k| {
            if resident.contains_key(k) {
                reads.memory += 1;
                return Ok(None);
            }
            reads.store += 1;
            Ok(Some(stored.bucket(k)?.unwrap_or_else(|| Bucket::new(None))))
        });
        let value = updated.map(|()| sum.value(|k| resident.get(k)));
        match &value {
            Err(_) => self.sums.remove(&key),
            Ok(_) if new => self.sums.count_new(&key),
            Ok(_) => {}
        }
        value
    }

    /// Bytes held by the running sums, and how many there are.
    pub fn sums_held(&self) -> (usize, usize) {
        (self.sums.heap_bytes(), self.sums.len())
    }

    fn merge_keys(
        &mut self,
        keys: &[BucketKey],
        profile: Option<&ReferenceProfile>,
        stored: &dyn StoredBuckets,
    ) -> Result<Bucket, BucketReadError> {
        let mut out = Bucket::new(profile);
        for k in keys {
            if let Some(b) = self.read(k, stored)? {
                out.merge(&b);
            }
        }
        Ok(out)
    }

    /// The merge of every bucket of `model` (one version, or all) whose start is in
    /// [from, to], read one by one.
    pub fn range(
        &mut self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        (from_ms, to_ms): (i64, i64),
        stored: &dyn StoredBuckets,
    ) -> Result<Bucket, BucketReadError> {
        let keys = self.keys_between(model, version, from_ms, to_ms);
        self.merge_keys(&keys, profile, stored)
    }

    /// The buckets of `model` (one version, or all merged per tier and start) that
    /// start in [from, to], oldest first.
    pub(crate) fn buckets_between(
        &mut self,
        model: &str,
        version: Option<&str>,
        profile: Option<&ReferenceProfile>,
        (from_ms, to_ms): (i64, i64),
        stored: &dyn StoredBuckets,
    ) -> Result<Vec<(Tier, i64, Bucket)>, BucketReadError> {
        let mut out: BTreeMap<(i64, Tier), Bucket> = BTreeMap::new();
        for k in self.keys_between(model, version, from_ms, to_ms) {
            if let Some(b) = self.read(&k, stored)? {
                out.entry((k.start_ms, k.tier))
                    .or_insert_with(|| Bucket::new(profile))
                    .merge(&b);
            }
        }
        Ok(out
            .into_iter()
            .map(|((start, tier), b)| (tier, start, b))
            .collect())
    }

    /// Every bucket, in key order (`driftd state show --buckets`).
    pub fn all_buckets(
        &mut self,
        stored: &dyn StoredBuckets,
    ) -> Result<Vec<(BucketKey, Bucket)>, BucketReadError> {
        let keys: Vec<BucketKey> = self
            .index
            .iter()
            .flat_map(|((m, v), s)| {
                s.keys.iter().map(move |&(tier, start_ms)| BucketKey {
                    model: m.clone(),
                    version: v.clone(),
                    tier,
                    start_ms,
                })
            })
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(b) = self.read(&k, stored)? {
                out.push((k, b));
            }
        }
        Ok(out)
    }

    /// Newest event time of `model` (one version, or all), any bucket.
    pub fn newest_event_ms(&self, model: &str, version: Option<&str>) -> i64 {
        let stored = self
            .index
            .iter()
            .filter(|((m, v), _)| m == model && version.is_none_or(|want| want == v))
            .map(|(_, s)| s.newest_event_ms);
        let resident = self
            .resident
            .iter()
            .filter(|(k, _)| k.model == model && version.is_none_or(|v| v == k.version))
            .map(|(_, b)| b.last_event_ms);
        stored.chain(resident).max().unwrap_or(i64::MIN)
    }

    /// (model, version) pairs that have buckets.
    pub fn series(&self) -> BTreeSet<(String, String)> {
        self.index.keys().cloned().collect()
    }

    /// Buckets in the index, and those of them in memory with their estimated bytes.
    pub fn held(&self) -> (usize, usize, usize) {
        let total = self.index.values().map(|s| s.keys.len()).sum();
        (total, self.resident.len(), self.resident_bytes)
    }

    /// Buckets changed and removed since [`WindowState::mark_clean`].
    pub fn changes(&self) -> (Vec<(&BucketKey, &Bucket)>, Vec<BucketKey>) {
        (
            self.dirty
                .iter()
                .filter_map(|k| self.resident.get(k).map(|b| (k, b)))
                .collect(),
            self.removed.iter().cloned().collect(),
        )
    }

    /// The buckets in memory passed `memory.resident_bytes`: time to checkpoint, so
    /// that clean ones can leave.
    pub(crate) fn over_budget(&self, memory: &WindowMemory) -> bool {
        self.resident_bytes > memory.resident_bytes
    }

    /// A store read failed since the last checkpoint.
    pub(crate) fn failure(&self) -> Option<&BucketReadError> {
        self.failure.as_ref()
    }

    pub(crate) fn take_reads(&mut self) -> BucketReads {
        std::mem::take(&mut self.reads)
    }

    /// The changes are durable: buckets no longer being written leave memory and
    /// settle in the running sums. A bucket stays while it may still be written — a
    /// fine bucket of the last two bucket widths — unless memory is over budget.
    pub(crate) fn mark_clean(
        &mut self,
        settings: &WindowSettings,
        memory: &WindowMemory,
        now_ms: i64,
    ) {
        self.dirty.clear();
        self.removed.clear();
        self.recent.clear();
        self.failure = None;
        let keep_from = now_ms - 2 * settings.bucket_ms;
        let over = self.resident_bytes > memory.resident_bytes / 2;
        let leaving: Vec<BucketKey> = self
            .resident
            .keys()
            .filter(|k| over || k.tier != Tier::Fine || k.start_ms < keep_from)
            .cloned()
            .collect();
        for key in leaving {
            if let Some(b) = self.resident.remove(&key) {
                self.sums.settle(&key, &b);
                if let Some(s) = self
                    .index
                    .get_mut(&(key.model.clone(), key.version.clone()))
                {
                    s.newest_event_ms = s.newest_event_ms.max(b.last_event_ms);
                }
            }
        }
        self.resident_bytes = self.resident.values().map(Bucket::heap_bytes).sum();
    }
}

fn read_bucket(
    resident: &BTreeMap<BucketKey, Bucket>,
    reads: &mut BucketReads,
    key: &BucketKey,
    stored: &dyn StoredBuckets,
) -> Result<Option<Bucket>, BucketReadError> {
    if let Some(b) = resident.get(key) {
        reads.memory += 1;
        return Ok(Some(b.clone()));
    }
    reads.store += 1;
    stored.bucket(key)
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

    /// A store of buckets in a map: checkpoints write the changes into it.
    #[derive(Default)]
    struct MapBuckets(std::cell::RefCell<BTreeMap<BucketKey, Bucket>>);

    impl StoredBuckets for MapBuckets {
        fn bucket(&self, key: &BucketKey) -> Result<Option<Bucket>, BucketReadError> {
            Ok(self.0.borrow().get(key).cloned())
        }
    }

    impl MapBuckets {
        fn checkpoint(&self, w: &mut WindowState, s: &WindowSettings, m: &WindowMemory, now: i64) {
            let (changed, removed) = w.changes();
            let mut map = self.0.borrow_mut();
            for k in removed {
                map.remove(&k);
            }
            map.extend(changed.into_iter().map(|(k, b)| (k.clone(), b.clone())));
            drop(map);
            w.mark_clean(s, m, now);
        }
    }

    fn keys(w: &WindowState) -> Vec<BucketKey> {
        w.keys_between("m", None, i64::MIN, i64::MAX)
    }

    const NO_STORE: NoStoredBuckets = NoStoredBuckets;

    #[test]
    fn frequent_unknown_names_survive_a_name_per_record() {
        let mut names = UnknownNames::default();
        for i in 0..100_000 {
            names.add(&format!("build-{i}"));
            if i % 4 == 0 {
                names.add("typo_feature");
            }
        }
        let top = names.top();
        assert_eq!(top.len(), TOP_UNKNOWN_NAMES);
        assert_eq!(top[0].name, "typo_feature");
        assert!(top[0].count - top[0].error <= 25_000 && 25_000 <= top[0].count);
    }

    #[test]
    fn buckets_by_event_time_and_windows_merge_them() {
        let p = IndexedProfile::new(profile());
        let s = WindowSettings::default();
        let m = WindowMemory::default();
        let now = 10 * HOUR_MS;
        let mut w = WindowState::default();
        for i in 0..120 {
            // One event per minute over the last two hours, newest last.
            w.observe(
                &record(now - (119 - i) * 60_000, i as f64),
                Some(&p),
                &s,
                now,
                &NO_STORE,
            );
        }
        assert_eq!(keys(&w).len(), 120);
        let mut window = |version, ms| {
            w.window("m", version, Some(&p.profile), ms, now, &m, &NO_STORE)
                .unwrap()
        };
        let five = window(None, 5 * 60_000);
        assert_eq!(five.events, 6, "buckets starting at or after now − 5m");
        let hour = window(Some("v1"), HOUR_MS);
        assert_eq!(hour.events, 61);
        assert_eq!(hour.unknown_features, 61);
        let crate::reference::FeatureCounts::Categorical(plan) = &hour.features[1] else {
            panic!()
        };
        assert_eq!(plan.missing, 61, "absent feature counts as missing");
        assert_eq!(hour.latency.count(), 61);
        assert_eq!(
            w.unknown_names("m"),
            [UnknownName {
                name: "zz".into(),
                count: 120,
                error: 0
            }]
        );
    }

    #[test]
    fn compaction_keeps_totals_and_late_events_find_their_tier() {
        let p = IndexedProfile::new(profile());
        let s = WindowSettings::default();
        let m = WindowMemory::default();
        let start = 100 * DAY_MS;
        let store = MapBuckets::default();
        let mut w = WindowState::default();
        for i in 0..180 {
            let t = start + i * 60_000;
            w.observe(&record(t, 1.0), Some(&p), &s, t, &store);
            if i % 50 == 0 {
                store.checkpoint(&mut w, &s, &m, t);
            }
        }
        store.checkpoint(&mut w, &s, &m, start + 180 * 60_000);
        let later = start + 10 * HOUR_MS;
        w.compact(&s, later, &store);
        assert!(keys(&w).iter().all(|k| k.tier == Tier::Hour));
        let all = w
            .window("m", None, Some(&p.profile), 30 * DAY_MS, later, &m, &store)
            .unwrap();
        assert_eq!(all.events, 180);
        let (changed, removed) = w.changes();
        assert_eq!(removed.len(), 180);
        assert_eq!(changed.len(), 3);
        // 3 days old goes to an hour bucket, 10 days to a day bucket, 100 is too late.
        let observe =
            |w: &mut WindowState, ts| w.observe(&record(ts, 1.0), Some(&p), &s, later, &store);
        assert_eq!(observe(&mut w, later - 3 * DAY_MS), Observed::Added);
        assert!(!keys(&w).iter().any(|k| k.tier == Tier::Day));
        assert_eq!(observe(&mut w, later - 10 * DAY_MS), Observed::Added);
        assert!(keys(&w).iter().any(|k| k.tier == Tier::Day));
        assert_eq!(observe(&mut w, later - 100 * DAY_MS), Observed::TooLate);
        // Day buckets past retention are dropped.
        w.compact(&s, later + 200 * DAY_MS, &store);
        assert!(keys(&w).is_empty());
    }

    /// The running sums against a full merge of the same buckets, to the bit, through
    /// random traffic (late events, outcomes with segments, two versions), checkpoints
    /// that move buckets out of memory (with a budget small enough to evict all),
    /// compaction, and windows and rolling references evaluated as time passes.
    #[test]
    fn running_sums_equal_a_full_merge() {
        let p = IndexedProfile::new(profile());
        let s = WindowSettings::default();
        let labels = LabelSettings {
            segment_key: Some("region".into()),
            max_segments: 3,
            ..Default::default()
        };
        let mut rng = crate::base::rng::SplitMix::new(7);
        for round in 0..4 {
            // Odd rounds: buckets leave memory at every checkpoint; the last round: no
            // room for more than one sum, the other windows are merged.
            let memory = WindowMemory {
                resident_bytes: if round % 2 == 0 { usize::MAX } else { 0 },
                sums_bytes: if round == 3 { 0 } else { usize::MAX },
            };
            let store = MapBuckets::default();
            let mut w = WindowState::default();
            let mut now = 200 * DAY_MS;
            let ranges: [(i64, i64); 6] = [
                (5 * 60_000, 0),
                (HOUR_MS, 0),
                (24 * HOUR_MS, 0),
                (8 * DAY_MS, 0),
                (2 * HOUR_MS, HOUR_MS + 1),
                (3 * DAY_MS, 24 * HOUR_MS + 1),
            ];
            for step in 0..150 {
                now += (rng.uniform() * 600_000.0) as i64;
                if rng.uniform() < 0.02 {
                    now += (rng.uniform() * 2.0 * DAY_MS as f64) as i64;
                }
                for _ in 0..(rng.uniform() * 20.0) as usize {
                    let age = if rng.uniform() < 0.8 {
                        rng.uniform() * 180_000.0
                    } else {
                        rng.uniform() * 10.0 * DAY_MS as f64
                    } as i64;
                    let mut r = record(now - age, rng.uniform() * 120.0 - 10.0);
                    if rng.uniform() < 0.3 {
                        r.version = "v2".into();
                    }
                    if rng.uniform() < 0.1 {
                        r.latency_ms = Some(rng.uniform() * 1000.0);
                    }
                    w.observe(&r, Some(&p), &s, now, &store);
                    if rng.uniform() < 0.4 {
                        let score = rng.uniform();
                        let outcome = Outcome {
                            model: "m".into(),
                            version: r.version.clone(),
                            ts_ms: r.ts_ms,
                            score: Some(score),
                            class: None,
                            segment: Some(format!("r{}", (rng.uniform() * 5.0) as u32)),
                            label: crate::event::LabelValue::Number(if rng.uniform() < 0.5 {
                                f64::from(u8::from(score > 0.3))
                            } else {
                                rng.uniform() * 3.0
                            }),
                        };
                        w.observe_outcome(&outcome, Some(&p), &s, &labels, now, &store);
                    }
                }
                if rng.uniform() < 0.5 {
                    store.checkpoint(&mut w, &s, &memory, now);
                }
                if step % 3 == 0 {
                    w.compact(&s, now, &store);
                }
                for version in [None, Some("v1"), Some("v2")] {
                    for &(from, to) in &ranges {
                        if rng.uniform() < 0.3 {
                            continue;
                        }
                        let sum = w
                            .sum_between(
                                "m",
                                version,
                                Some(&p.profile),
                                (from, to),
                                now,
                                &memory,
                                &store,
                            )
                            .unwrap();
                        let full = w
                            .range(
                                "m",
                                version,
                                Some(&p.profile),
                                (now - from, now - to),
                                &store,
                            )
                            .unwrap();
                        assert_eq!(
                            sum, full,
                            "round {round} step {step} {version:?} {from}..{to}"
                        );
                    }
                }
            }
            let sums = w.sums_held().1;
            assert!(if round == 3 { sums <= 1 } else { sums > 1 }, "{sums} sums");
            store.checkpoint(&mut w, &s, &memory, now);
            let (_, resident, _) = w.held();
            if memory.resident_bytes == 0 {
                assert_eq!(resident, 0, "over budget, every clean bucket leaves memory");
            }
        }
    }
}
