//! The daemon's mergeable state and the input positions it reflects. Pure: records in,
//! counts out; [`crate::store`] persists it.
//!
//! Every value is a sum, so the state of two partitions (or two daemons) merges by
//! addition, and a checkpoint only has to write what changed since the last one.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::Record;
use crate::join::{JoinChange, JoinReadError, JoinReads, JoinState, LabelSettings, StoredJoins};
use crate::window::{
    Bucket, BucketKey, BucketReadError, Observed, ProfileSet, RecentKeys, StoredBuckets,
    WindowMemory, WindowSettings, WindowState,
};

/// (model, version)
pub(crate) type ModelKey = (String, String);
/// (topic, partition)
pub(crate) type PartitionKey = (String, i32);

#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestState {
    /// Accepted prediction records per (model, version).
    events: BTreeMap<ModelKey, u64>,
    /// Accepted label records per model.
    labels: BTreeMap<String, u64>,
    /// Next offset to read per partition: everything before it is in the counts.
    offsets: BTreeMap<PartitionKey, i64>,
    /// Event-time buckets per model and version.
    windows: WindowState,
    /// Predictions waiting for labels and labels waiting for predictions.
    join: JoinState,
    dirty_events: BTreeSet<ModelKey>,
    dirty_labels: BTreeSet<String>,
    dirty_offsets: BTreeSet<PartitionKey>,
    recent_events: RecentKeys<ModelKey>,
    recent_offsets: RecentKeys<PartitionKey>,
}

/// What [`IngestState::apply`] needs besides the record: the reference profiles,
/// the bucket layout, the checkpointed join entries, and the wall clock.
pub(crate) struct ApplyContext<'a> {
    pub profiles: &'a ProfileSet,
    pub windows: &'a WindowSettings,
    pub labels: &'a LabelSettings,
    pub joins: &'a dyn StoredJoins,
    pub buckets: &'a dyn StoredBuckets,
    pub now_ms: i64,
}

/// What changed since the last checkpoint, as absolute values ready to be written
/// (buckets borrowed from the state: a checkpoint of many buckets does not copy them).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes<'a> {
    pub events: Vec<(ModelKey, u64)>,
    pub labels: Vec<(String, u64)>,
    pub offsets: Vec<(PartitionKey, i64)>,
    pub buckets: Vec<(&'a BucketKey, &'a Bucket)>,
    pub removed_buckets: Vec<BucketKey>,
    pub joins: Vec<JoinChange>,
    /// Join entries waiting, when that changed.
    pub waiting: Option<u64>,
}

impl Changes<'_> {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.labels.is_empty()
            && self.offsets.is_empty()
            && self.buckets.is_empty()
            && self.removed_buckets.is_empty()
            && self.joins.is_empty()
            && self.waiting.is_none()
    }
}

impl IngestState {
    /// State as loaded from a checkpoint: nothing dirty.
    pub(crate) fn restored(
        events: BTreeMap<ModelKey, u64>,
        labels: BTreeMap<String, u64>,
        offsets: BTreeMap<PartitionKey, i64>,
        windows: WindowState,
        waiting: u64,
    ) -> Self {
        IngestState {
            events,
            labels,
            offsets,
            windows,
            join: JoinState::restored(waiting),
            ..Default::default()
        }
    }

    /// Adds one decoded record to the state. A prediction older than every bucket
    /// tier is counted in the totals but not in any window ([`Observed::TooLate`]).
    pub(crate) fn apply(&mut self, record: &Record, ctx: &ApplyContext<'_>) -> Observed {
        match record {
            Record::Prediction(p) => {
                let recent = self
                    .recent_events
                    .find(|(m, v)| *m == p.model && *v == p.version);
                match recent.and_then(|k| self.events.get_mut(k)) {
                    Some(n) => *n += 1,
                    None => {
                        let key = (p.model.clone(), p.version.clone());
                        *self.events.entry(key.clone()).or_default() += 1;
                        self.dirty_events.insert(key.clone());
                        self.recent_events.remember(key);
                    }
                }
                let profile = ctx.profiles.get(&p.model, &p.version).map(|p| p.as_ref());
                let observed =
                    self.windows
                        .observe(p, profile, ctx.windows, ctx.now_ms, ctx.buckets);
                let joined = self
                    .join
                    .on_prediction(p, ctx.labels, ctx.joins, ctx.now_ms);
                self.observe_joined(&joined, ctx);
                observed
            }
            Record::Label(l) => {
                *self.labels.entry(l.model.clone()).or_default() += 1;
                self.dirty_labels.insert(l.model.clone());
                let joined = self.join.on_label(l, ctx.labels, ctx.joins, ctx.now_ms);
                self.observe_joined(&joined, ctx)
            }
        }
    }

    /// Adds what a record joined to the buckets of its predictions: `TooLate` when a
    /// label's prediction is older than every tier.
    fn observe_joined(&mut self, joined: &crate::join::Joined, ctx: &ApplyContext<'_>) -> Observed {
        let mut observed = Observed::Added;
        for o in &joined.outcomes {
            let profile = ctx.profiles.get(&o.model, &o.version).map(|p| p.as_ref());
            let r = self.windows.observe_outcome(
                o,
                profile,
                ctx.windows,
                ctx.labels,
                ctx.now_ms,
                ctx.buckets,
            );
            if r != Observed::Added {
                observed = r;
            }
        }
        for pair in &joined.pairs {
            let profile = ctx
                .profiles
                .get(&pair.model, &pair.candidate.version)
                .map(|p| p.as_ref());
            self.windows
                .observe_pair(pair, profile, ctx.windows, ctx.now_ms, ctx.buckets);
        }
        observed
    }

    /// Drops join entries past their TTL (up to [`crate::join::EXPIRE_PER_TICK`] of
    /// the checkpointed ones); returns how many.
    pub(crate) fn expire_pending(&mut self, now_ms: i64, joins: &dyn StoredJoins) -> u64 {
        self.join
            .expire(now_ms, joins, crate::join::EXPIRE_PER_TICK)
    }

    /// Predictions and labels waiting for their other half.
    pub(crate) fn pending_joins(&self) -> u64 {
        self.join.len()
    }

    /// Join entries changed since the last checkpoint.
    pub(crate) fn join_changes(&self) -> usize {
        self.join.changed()
    }

    /// A join entry the store could not read since the last checkpoint.
    pub(crate) fn join_failure(&self) -> Option<&JoinReadError> {
        self.join.failure()
    }

    pub(crate) fn take_join_reads(&mut self) -> JoinReads {
        self.join.take_reads()
    }

    pub fn windows(&self) -> &WindowState {
        &self.windows
    }

    pub(crate) fn windows_mut(&mut self) -> &mut WindowState {
        &mut self.windows
    }

    /// Records that everything before `next_offset` in the partition has been applied
    /// (accepted or dead-lettered).
    pub(crate) fn advance(&mut self, topic: &str, partition: i32, next_offset: i64) {
        let recent = self
            .recent_offsets
            .find(|(t, p)| *p == partition && t == topic);
        match recent.and_then(|k| self.offsets.get_mut(k)) {
            Some(o) => *o = next_offset,
            None => {
                let key = (topic.to_string(), partition);
                self.offsets.insert(key.clone(), next_offset);
                self.dirty_offsets.insert(key.clone());
                self.recent_offsets.remember(key);
            }
        }
    }

    pub fn offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.offsets.get(&(topic.to_string(), partition)).copied()
    }

    pub fn events(&self) -> &BTreeMap<ModelKey, u64> {
        &self.events
    }

    pub fn labels(&self) -> &BTreeMap<String, u64> {
        &self.labels
    }

    pub fn offsets(&self) -> &BTreeMap<PartitionKey, i64> {
        &self.offsets
    }

    /// Counts, offsets, the join's size and (with `buckets`) every window bucket as JSON: what
    /// `driftd state show` prints, and how two stores are compared.
    pub fn summary(
        &mut self,
        buckets: Option<&dyn StoredBuckets>,
    ) -> Result<serde_json::Value, BucketReadError> {
        use serde_json::json;
        let mut events = serde_json::Map::new();
        for ((model, version), n) in self.events() {
            let entry = events.entry(model.clone()).or_insert_with(|| json!({}));
            entry[version] = json!(n);
        }
        let offsets: Vec<_> = self
            .offsets()
            .iter()
            .map(|((t, p), o)| json!({"topic": t, "partition": p, "next_offset": o}))
            .collect();
        let mut out = json!({
            "events": events,
            "labels": self.labels(),
            "offsets": offsets,
            "joins_waiting": self.pending_joins(),
        });
        if let Some(stored) = buckets {
            out["buckets"] = self
                .windows
                .all_buckets(stored)?
                .iter()
                .map(|(k, b)| {
                    let mut bucket = json!(b);
                    // A bucket without shadow pairs shows as it did before they
                    // existed: stores of two versions compare by this output.
                    if b.shadow.is_empty() {
                        if let Some(o) = bucket.as_object_mut() {
                            o.remove("shadow");
                        }
                    }
                    json!({"model": k.model, "version": k.version, "tier": k.tier,
                           "start_ms": k.start_ms, "bucket": bucket})
                })
                .collect();
        }
        Ok(out)
    }

    /// The dirty entries; they stay dirty until [`IngestState::mark_clean`] confirms
    /// that the checkpoint holding them is durable.
    pub fn changes(&self) -> Changes<'_> {
        let (buckets, removed_buckets) = self.windows.changes();
        let (joins, waiting) = self.join.changes();
        Changes {
            buckets,
            removed_buckets,
            joins,
            waiting,
            events: self
                .dirty_events
                .iter()
                .map(|k| (k.clone(), self.events[k]))
                .collect(),
            labels: self
                .dirty_labels
                .iter()
                .map(|k| (k.clone(), self.labels[k]))
                .collect(),
            offsets: self
                .dirty_offsets
                .iter()
                .map(|k| (k.clone(), self.offsets[k]))
                .collect(),
        }
    }

    /// The checkpoint holding [`IngestState::changes`] is durable.
    pub(crate) fn mark_clean(
        &mut self,
        settings: &WindowSettings,
        memory: &WindowMemory,
        now_ms: i64,
    ) {
        self.windows.mark_clean(settings, memory, now_ms);
        self.join.mark_clean();
        self.dirty_events.clear();
        self.dirty_labels.clear();
        self.dirty_offsets.clear();
        self.recent_events.clear();
        self.recent_offsets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LabelRecord, LabelValue, PredictionRecord};

    fn prediction(model: &str, version: &str) -> Record {
        Record::Prediction(PredictionRecord {
            model: model.into(),
            version: version.into(),
            id: None,
            ts_ms: 0,
            features: vec![],
            prediction: None,
            latency_ms: None,
            segment: vec![],
        })
    }

    #[test]
    fn counts_and_changes() {
        let profiles = ProfileSet::default();
        let settings = WindowSettings::default();
        let labels = LabelSettings::default();
        let ctx = ApplyContext {
            profiles: &profiles,
            windows: &settings,
            labels: &labels,
            joins: &crate::join::NoStoredJoins,
            buckets: &crate::window::NoStoredBuckets,
            now_ms: 1000,
        };
        let mut s = IngestState::default();
        s.apply(&prediction("a", "v1"), &ctx);
        s.apply(&prediction("a", "v1"), &ctx);
        s.apply(&prediction("b", "v2"), &ctx);
        s.apply(
            &Record::Label(LabelRecord {
                model: "a".into(),
                id: "1".into(),
                label: LabelValue::Number(1.0),
                ts_ms: 0,
            }),
            &ctx,
        );
        s.advance("t", 0, 3);
        let c = s.changes();
        assert_eq!(
            c.events,
            vec![
                (("a".into(), "v1".into()), 2),
                (("b".into(), "v2".into()), 1)
            ]
        );
        assert_eq!(c.labels, vec![("a".into(), 1)]);
        assert_eq!(c.offsets, vec![(("t".into(), 0), 3)]);
        assert_eq!(c.buckets.len(), 2, "one bucket per model and version");
        s.mark_clean(&settings, &WindowMemory::default(), 1000);
        assert!(s.changes().is_empty());
        s.apply(&prediction("b", "v2"), &ctx);
        s.advance("t", 0, 4);
        // Keys seen before the checkpoint are marked dirty again (the recent-key
        // caches are cleared with the dirty sets).
        let c = s.changes();
        assert_eq!(c.events, vec![(("b".into(), "v2".into()), 2)]);
        assert_eq!(c.offsets, vec![(("t".into(), 0), 4)]);
        assert_eq!(c.buckets.len(), 1);
        assert_eq!(c.buckets[0].1.events, 2);
        assert_eq!(s.offset("t", 0), Some(4));
    }
}
