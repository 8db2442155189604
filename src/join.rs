//! Joining ground truth to predictions by (model, id), in either arrival order,
//! within a TTL. Pure: records and a `now` in, [`Outcome`]s out.
//!
//! Whichever side arrives first waits until the other side arrives or the TTL
//! passes. The outcome is attributed to the prediction's event time, so a label that
//! comes days later updates the bucket its prediction is in.
//!
//! Memory: waiting entries live in the store (written with every checkpoint, looked up
//! through [`StoredJoins`] when the other side arrives, expired through its
//! time-ordered index); [`JoinState`] holds only what changed since the last
//! checkpoint. So memory is bounded by the records of one checkpoint interval, and
//! disk by prediction rate × TTL (docs/resources.md).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::{LabelRecord, LabelValue, PredictionRecord};
use crate::reference::number_key;
use crate::stats::performance::PerformanceCounts;

/// What kind of model a model is, for its performance metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Score = probability of the positive class, labels 0/1 (or true/false).
    Binary,
    /// Score = the predicted value, label = the actual value.
    Regression,
    /// Predicted class vs label class: accuracy.
    Classification,
}

#[derive(Debug, Clone)]
pub struct LabelSettings {
    pub ttl_ms: i64,
    /// Scores at or above this predict the positive class.
    pub threshold: f64,
    /// Declared tasks; others are inferred per outcome (see [`record_outcome`]).
    pub tasks: HashMap<String, Task>,
    /// Segment key (e.g. "region") whose values break performance down.
    pub segment_key: Option<String>,
    /// Distinct segment values kept per bucket; the rest share [`OTHER_SEGMENT`].
    pub max_segments: usize,
    /// Keep predictions waiting for their labels. Off when no labels source is
    /// configured: nothing would ever join them, and holding every prediction for the
    /// TTL would cost memory and store writes in proportion to the traffic.
    pub keep_predictions: bool,
    /// Shadow deployments by model: their candidate's predictions are paired with
    /// the live (baseline) version's by id instead of waiting for labels alone.
    pub shadows: HashMap<String, Vec<ShadowSettings>>,
}

/// A `kind = "shadow"` deployment, as the join sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowSettings {
    pub deployment: String,
    /// Version globs; a version in both is the candidate's.
    pub baseline: String,
    pub candidate: String,
}

impl ShadowSettings {
    fn role(&self, version: &str) -> Option<Side> {
        if crate::base::text::glob_match(&self.candidate, version) {
            Some(Side::Candidate)
        } else if crate::base::text::glob_match(&self.baseline, version) {
            Some(Side::Baseline)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Baseline,
    Candidate,
}

/// The segment of predictions whose value is beyond `max_segments`.
pub(crate) const OTHER_SEGMENT: &str = crate::stats::histogram::OTHER;

impl Default for LabelSettings {
    fn default() -> Self {
        LabelSettings {
            ttl_ms: 7 * 86_400_000,
            threshold: 0.5,
            tasks: HashMap::new(),
            segment_key: None,
            max_segments: 20,
            keep_predictions: true,
            shadows: HashMap::new(),
        }
    }
}

/// Adds an outcome to a bucket's performance counts, and to its segment's.
pub(crate) fn record_outcome(
    perf: &mut PerformanceCounts,
    by_segment: &mut std::collections::BTreeMap<String, PerformanceCounts>,
    o: &Outcome,
    settings: &LabelSettings,
) {
    add_outcome(perf, o, settings);
    if let Some(segment) = &o.segment {
        add_outcome(
            segment_counts(by_segment, segment, settings.max_segments),
            o,
            settings,
        );
    }
}

/// The counts of `segment`, or of [`OTHER_SEGMENT`] once `max` segments are kept.
pub(crate) fn segment_counts<'a>(
    by_segment: &'a mut std::collections::BTreeMap<String, PerformanceCounts>,
    segment: &str,
    max: usize,
) -> &'a mut PerformanceCounts {
    let key = if by_segment.contains_key(segment) || by_segment.len() < max {
        segment
    } else {
        OTHER_SEGMENT
    };
    by_segment.entry(key.to_string()).or_default()
}

/// Adds an outcome to performance counts. Without a declared task: a score in [0, 1]
/// with a 0/1 label is binary, another numeric label is regression, and a predicted
/// class is compared with the label as a class.
fn add_outcome(perf: &mut PerformanceCounts, o: &Outcome, settings: &LabelSettings) {
    let task = settings.tasks.get(&o.model).copied();
    let y = match &o.label {
        LabelValue::Number(y) => Some(*y),
        LabelValue::Class(_) => None,
    };
    match (task, o.score, y) {
        (Some(Task::Regression), Some(s), Some(y)) => perf.add_regression(s, y),
        (Some(Task::Binary) | None, Some(s), Some(y))
            if (y == 0.0 || y == 1.0) && (0.0..=1.0).contains(&s) =>
        {
            perf.add_binary(s, y == 1.0, settings.threshold)
        }
        (None, Some(s), Some(y)) if o.class.is_none() => perf.add_regression(s, y),
        _ => {
            let label = match &o.label {
                LabelValue::Number(y) => number_key(*y),
                LabelValue::Class(c) => c.clone(),
            };
            if let Some(c) = &o.class {
                perf.add_class(c, &label);
            }
        }
    }
}

/// (model, id)
pub(crate) type JoinKey = (String, String);

/// What reaches a shadow pair.
enum Arrival<'a> {
    Prediction(Side, PairedPrediction),
    Label(&'a LabelValue),
}

fn shadows_of<'a>(settings: &'a LabelSettings, model: &str) -> &'a [ShadowSettings] {
    settings.shadows.get(model).map_or(&[], Vec::as_slice)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Pending {
    Prediction {
        version: String,
        ts_ms: i64,
        score: Option<f64>,
        class: Option<String>,
        #[serde(default)]
        segment: Option<String>,
        expires_ms: i64,
    },
    Label {
        label: LabelValue,
        expires_ms: i64,
    },
    /// The pair of one request in a shadow deployment (under [`pair_key`]). Last, so
    /// entries stored before it existed keep their variant numbers.
    Pair(PairSlot),
}

/// What of a shadow pair has arrived: either prediction and the label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSlot {
    pub baseline: Option<PairedPrediction>,
    pub candidate: Option<PairedPrediction>,
    pub label: Option<LabelValue>,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedPrediction {
    pub version: String,
    pub ts_ms: i64,
    pub score: Option<f64>,
    pub class: Option<String>,
}

/// The join key of `id`'s pair in shadow deployment `deployment`: beside the
/// label join's `(model, id)`, apart from it by a control character ids do not hold
/// in practice (and the store's key separator, NUL, is not).
fn pair_key(model: &str, id: &str, deployment: &str) -> JoinKey {
    (
        model.to_string(),
        format!("{id}\u{1}shadow\u{1}{deployment}"),
    )
}

/// Something a shadow pair completed, for the candidate's bucket of its deployment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PairOutcome {
    pub model: String,
    pub deployment: String,
    /// The candidate's prediction: its bucket holds the pair.
    pub candidate: PairedPrediction,
    /// Both predictions arrived (counted once, when the second did).
    pub pair: Option<crate::stats::shadow::PairObservation>,
    /// The label joined both (counted once, when the last of the three arrived).
    pub labelled: Option<crate::stats::shadow::PairCorrectness>,
}

/// What one record joined: outcomes for performance counts, pairs for shadows.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Joined {
    pub outcomes: Vec<Outcome>,
    pub pairs: Vec<PairOutcome>,
}

#[cfg(test)]
impl Joined {
    /// The one outcome, if any (tests of the label join alone).
    fn outcome(mut self) -> Option<Outcome> {
        assert!(
            self.outcomes.len() <= 1 && self.pairs.is_empty(),
            "{self:?}"
        );
        self.outcomes.pop()
    }
}

/// The class a prediction decided: its class, or a score in [0, 1] against the
/// threshold (`"1"`/`"0"`, as [`number_key`] writes a 0/1 label).
fn decided(p: &PairedPrediction, threshold: f64) -> Option<String> {
    match (&p.class, p.score) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(s)) if (0.0..=1.0).contains(&s) => {
            Some(number_key(if s >= threshold { 1.0 } else { 0.0 }))
        }
        _ => None,
    }
}

fn observe_pair(
    b: &PairedPrediction,
    c: &PairedPrediction,
    threshold: f64,
) -> crate::stats::shadow::PairObservation {
    crate::stats::shadow::PairObservation {
        agree: decided(b, threshold)
            .zip(decided(c, threshold))
            .map(|(x, y)| x == y),
        difference: b.score.zip(c.score).map(|(x, y)| y - x),
    }
}

/// Who was right: the class decision against the label, or for a numeric label and
/// scores that decide no class, the smaller absolute error.
fn correctness(
    b: &PairedPrediction,
    c: &PairedPrediction,
    label: &LabelValue,
    threshold: f64,
) -> Option<crate::stats::shadow::PairCorrectness> {
    let truth = match label {
        LabelValue::Number(y) => number_key(*y),
        LabelValue::Class(c) => c.clone(),
    };
    if let (Some(x), Some(y)) = (decided(b, threshold), decided(c, threshold)) {
        return Some(crate::stats::shadow::PairCorrectness {
            baseline: x == truth,
            candidate: y == truth,
        });
    }
    let (LabelValue::Number(y), Some(x), Some(z)) = (label, b.score, c.score) else {
        return None;
    };
    let (eb, ec) = ((x - y).abs(), (z - y).abs());
    Some(crate::stats::shadow::PairCorrectness {
        baseline: eb <= ec,
        candidate: ec <= eb,
    })
}

impl Pending {
    pub(crate) fn expires_ms(&self) -> i64 {
        match self {
            Pending::Prediction { expires_ms, .. } | Pending::Label { expires_ms, .. } => {
                *expires_ms
            }
            Pending::Pair(p) => p.expires_ms,
        }
    }
}

/// A prediction with its label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub model: String,
    pub version: String,
    /// The prediction's event time.
    pub ts_ms: i64,
    pub score: Option<f64>,
    pub class: Option<String>,
    /// The prediction's value of the configured segment key.
    pub segment: Option<String>,
    pub label: LabelValue,
}

/// Reading a checkpointed join entry failed. The join cannot tell a missing entry
/// from an unreadable one, so the next checkpoint is refused (and the daemon restarts
/// from the last one) rather than persisting counts that may have missed a join.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reading the label join from the store failed: {0}")]
pub struct JoinReadError(pub String);

/// The join entries of the last checkpoint, on disk: [`crate::store::Store`]
/// implements it (the store sits above this layer; the join only sees this trait).
pub(crate) trait StoredJoins {
    /// The entry checkpointed under `key`, if any.
    fn get(&self, key: &JoinKey) -> Result<Option<Pending>, JoinReadError>;
    /// Up to `limit` checkpointed entries whose TTL ended at or before `now_ms`,
    /// earliest first, each with the `expires_ms` it was stored with.
    fn expired(&self, now_ms: i64, limit: usize) -> Result<Vec<(JoinKey, i64)>, JoinReadError>;
}

/// No checkpointed entries: a join that lives only in memory.
#[cfg(test)]
pub(crate) struct NoStoredJoins;

#[cfg(test)]
impl StoredJoins for NoStoredJoins {
    fn get(&self, _: &JoinKey) -> Result<Option<Pending>, JoinReadError> {
        Ok(None)
    }
    fn expired(&self, _: i64, _: usize) -> Result<Vec<(JoinKey, i64)>, JoinReadError> {
        Ok(Vec::new())
    }
}

/// Checkpointed entries expired per tick at most: a backlog (after downtime, or a
/// TTL shortened by a reload) drains over several ticks instead of holding one
/// tick, and the changes awaiting the next checkpoint, in proportion to it.
pub(crate) const EXPIRE_PER_TICK: usize = 200_000;

/// Join entries changed since the last checkpoint that make the ingest stage
/// checkpoint before its interval: they are the join's memory (~250 bytes each), which
/// would otherwise grow with the record rate × `checkpoint_interval`.
pub(crate) const MAX_CHANGES_IN_MEMORY: usize = 100_000;

/// One entry changed since the last checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinChange {
    pub key: JoinKey,
    /// The expiry of the entry the store holds under `key` (whose expiry-index entry
    /// the checkpoint must remove), `None` if it holds none.
    pub stored_expires_ms: Option<i64>,
    /// The entry now; `None`: removed (joined or expired).
    pub now: Option<Pending>,
}

/// Reads of join entries since [`JoinState::take_reads`]: from the changes held in
/// memory, or from the store.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct JoinReads {
    pub memory: u64,
    pub store: u64,
}

/// The label join: checkpointed entries live in the store ([`StoredJoins`]); this
/// holds only the entries changed since the last checkpoint, so its memory is
/// bounded by the records of one checkpoint interval, not by the TTL.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct JoinState {
    changed: HashMap<JoinKey, (Option<i64>, Option<Pending>)>,
    /// Entries waiting, in the store and in `changed` together.
    waiting: u64,
    waiting_dirty: bool,
    failure: Option<JoinReadError>,
    reads: JoinReads,
}

impl JoinState {
    pub(crate) fn restored(waiting: u64) -> JoinState {
        JoinState {
            waiting,
            ..Default::default()
        }
    }

    /// Predictions and labels waiting for their other half.
    pub fn len(&self) -> u64 {
        self.waiting
    }

    /// Entries changed since the last checkpoint (held in memory until it).
    pub(crate) fn changed(&self) -> usize {
        self.changed.len()
    }

    /// The first failed store read since the last checkpoint.
    pub(crate) fn failure(&self) -> Option<&JoinReadError> {
        self.failure.as_ref()
    }

    pub(crate) fn take_reads(&mut self) -> JoinReads {
        std::mem::take(&mut self.reads)
    }

    /// The entry under `key` as changed since the last checkpoint, read from the store
    /// the first time it is touched (with the expiry it was stored with).
    fn take(
        &mut self,
        key: &JoinKey,
        stored: &dyn StoredJoins,
    ) -> &mut (Option<i64>, Option<Pending>) {
        let reads = &mut self.reads;
        let failure = &mut self.failure;
        if self.changed.contains_key(key) {
            reads.memory += 1;
        }
        self.changed.entry(key.clone()).or_insert_with(|| {
            reads.store += 1;
            let p = stored.get(key).unwrap_or_else(|e| {
                failure.get_or_insert(e);
                None
            });
            (p.as_ref().map(Pending::expires_ms), p)
        })
    }

    fn count(&mut self, was: bool, is: bool) {
        if was != is {
            if is {
                self.waiting += 1;
            } else {
                self.waiting = self.waiting.saturating_sub(1);
            }
            self.waiting_dirty = true;
        }
    }

    /// A prediction with an id: joins a waiting label, or waits for one; in a shadow
    /// deployment, pairs with the other version's prediction of the same id. A
    /// shadow candidate's prediction does not enter the label join: it would replace
    /// the live version's prediction of the same request.
    pub(crate) fn on_prediction(
        &mut self,
        p: &PredictionRecord,
        settings: &LabelSettings,
        stored: &dyn StoredJoins,
        now_ms: i64,
    ) -> Joined {
        let mut joined = Joined::default();
        let Some(id) = p.id.as_ref() else {
            return joined;
        };
        let mut candidate = false;
        for (i, s) in shadows_of(settings, &p.model).iter().enumerate() {
            let Some(side) = s.role(&p.version) else {
                continue;
            };
            candidate |= side == Side::Candidate;
            let (score, class) = p
                .prediction
                .as_ref()
                .map_or((None, None), |pr| (pr.score, pr.class.clone()));
            let paired = PairedPrediction {
                version: p.version.clone(),
                ts_ms: p.ts_ms,
                score,
                class,
            };
            let arrival = Arrival::Prediction(side, paired);
            self.on_pair(
                &p.model,
                id,
                i,
                arrival,
                settings,
                stored,
                now_ms,
                &mut joined,
            );
        }
        if !candidate {
            joined
                .outcomes
                .extend(self.join_prediction(p, id, settings, stored, now_ms));
        }
        joined
    }

    /// A label: joins its waiting prediction, or waits for it; and in each shadow
    /// deployment of its model, joins (or waits for) the request's pair.
    pub(crate) fn on_label(
        &mut self,
        l: &LabelRecord,
        settings: &LabelSettings,
        stored: &dyn StoredJoins,
        now_ms: i64,
    ) -> Joined {
        let mut joined = Joined::default();
        joined
            .outcomes
            .extend(self.join_label(l, settings, stored, now_ms));
        for i in 0..shadows_of(settings, &l.model).len() {
            let arrival = Arrival::Label(&l.label);
            self.on_pair(
                &l.model,
                &l.id,
                i,
                arrival,
                settings,
                stored,
                now_ms,
                &mut joined,
            );
        }
        joined
    }

    /// One arrival at the pair of `id` in the model's `i`-th shadow deployment.
    /// Each of what a pair yields is counted once, when its last part arrives: the
    /// comparison (both predictions), the candidate's labelled outcome (candidate and
    /// label; from its first shadow deployment only) and who was right (all three).
    #[allow(clippy::too_many_arguments)]
    fn on_pair(
        &mut self,
        model: &str,
        id: &str,
        i: usize,
        arrival: Arrival<'_>,
        settings: &LabelSettings,
        stored: &dyn StoredJoins,
        now_ms: i64,
        joined: &mut Joined,
    ) {
        let shadows = shadows_of(settings, model);
        let s = &shadows[i];
        let slot = &mut self.take(&pair_key(model, id, &s.deployment), stored).1;
        let was = slot.take();
        let waited = was.is_some();
        let mut pair = match was {
            Some(Pending::Pair(p)) => p,
            _ => PairSlot {
                baseline: None,
                candidate: None,
                label: None,
                expires_ms: now_ms.saturating_add(settings.ttl_ms),
            },
        };
        let parts = |p: &PairSlot| {
            (
                p.baseline.is_some() && p.candidate.is_some(),
                p.candidate.is_some() && p.label.is_some(),
                p.baseline.is_some() && p.candidate.is_some() && p.label.is_some(),
            )
        };
        let before = parts(&pair);
        match arrival {
            Arrival::Prediction(Side::Baseline, p) => pair.baseline = Some(p),
            Arrival::Prediction(Side::Candidate, p) => pair.candidate = Some(p),
            Arrival::Label(l) => pair.label = Some(l.clone()),
        }
        let after = parts(&pair);
        if let Some(c) = &pair.candidate {
            let t = settings.threshold;
            let b = pair.baseline.as_ref();
            let observation = b
                .filter(|_| after.0 && !before.0)
                .map(|b| observe_pair(b, c, t));
            let labelled = b
                .zip(pair.label.as_ref())
                .filter(|_| after.2 && !before.2)
                .and_then(|(b, l)| correctness(b, c, l, t));
            if observation.is_some() || labelled.is_some() {
                joined.pairs.push(PairOutcome {
                    model: model.to_string(),
                    deployment: s.deployment.clone(),
                    candidate: c.clone(),
                    pair: observation,
                    labelled,
                });
            }
            let first = shadows
                .iter()
                .position(|s| s.role(&c.version) == Some(Side::Candidate));
            if let (true, false, Some(true), Some(label)) =
                (after.1, before.1, first.map(|f| f == i), &pair.label)
            {
                joined.outcomes.push(Outcome {
                    model: model.to_string(),
                    version: c.version.clone(),
                    ts_ms: c.ts_ms,
                    score: c.score,
                    class: c.class.clone(),
                    segment: None,
                    label: label.clone(),
                });
            }
        }
        // Done when all three are in, or both predictions when no label will come.
        let done = after.2 || (after.0 && !settings.keep_predictions);
        *slot = (!done).then_some(Pending::Pair(pair));
        let waits = slot.is_some();
        self.count(waited, waits);
    }

    /// A prediction with an id in the label join.
    fn join_prediction(
        &mut self,
        p: &PredictionRecord,
        id: &str,
        settings: &LabelSettings,
        stored: &dyn StoredJoins,
        now_ms: i64,
    ) -> Option<Outcome> {
        if !settings.keep_predictions {
            return None;
        }
        let segment = settings.segment_key.as_ref().and_then(|k| {
            p.segment
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        });
        let (score, class) = match &p.prediction {
            Some(pr) => (pr.score, pr.class.clone()),
            None => (None, None),
        };
        let slot = &mut self.take(&(p.model.clone(), id.to_string()), stored).1;
        let was = slot.take();
        let waited = was.is_some();
        let outcome = match was {
            Some(Pending::Label { label, .. }) => Some(Outcome {
                model: p.model.clone(),
                version: p.version.clone(),
                ts_ms: p.ts_ms,
                score,
                class,
                segment,
                label,
            }),
            // A prediction replaces a waiting one with the same id.
            _ => {
                *slot = Some(Pending::Prediction {
                    version: p.version.clone(),
                    ts_ms: p.ts_ms,
                    score,
                    class,
                    segment,
                    expires_ms: now_ms.saturating_add(settings.ttl_ms),
                });
                None
            }
        };
        let waits = slot.is_some();
        self.count(waited, waits);
        outcome
    }

    /// A label in the label join.
    fn join_label(
        &mut self,
        l: &LabelRecord,
        settings: &LabelSettings,
        stored: &dyn StoredJoins,
        now_ms: i64,
    ) -> Option<Outcome> {
        let slot = &mut self.take(&(l.model.clone(), l.id.clone()), stored).1;
        let was = slot.take();
        let waited = was.is_some();
        let outcome = match was {
            Some(Pending::Prediction {
                version,
                ts_ms,
                score,
                class,
                segment,
                ..
            }) => Some(Outcome {
                model: l.model.clone(),
                version,
                ts_ms,
                score,
                class,
                segment,
                label: l.label.clone(),
            }),
            // A label replaces a waiting one with the same id.
            _ => {
                *slot = Some(Pending::Label {
                    label: l.label.clone(),
                    expires_ms: now_ms.saturating_add(settings.ttl_ms),
                });
                None
            }
        };
        let waits = slot.is_some();
        self.count(waited, waits);
        outcome
    }

    /// Drops entries past their TTL: those changed since the last checkpoint, and up
    /// to `limit` checkpointed ones found through the store's expiry index (no scan of
    /// every entry). Returns how many.
    pub(crate) fn expire(&mut self, now_ms: i64, stored: &dyn StoredJoins, limit: usize) -> u64 {
        let mut expired = 0;
        for (_, now) in self.changed.values_mut() {
            if now.as_ref().is_some_and(|p| p.expires_ms() <= now_ms) {
                *now = None;
                expired += 1;
            }
        }
        match stored.expired(now_ms, limit) {
            Ok(entries) => {
                for (key, expires_ms) in entries {
                    // A key changed since the checkpoint is decided by its change.
                    if let std::collections::hash_map::Entry::Vacant(e) = self.changed.entry(key) {
                        e.insert((Some(expires_ms), None));
                        expired += 1;
                    }
                }
            }
            Err(e) => {
                self.failure.get_or_insert(e);
            }
        }
        if expired > 0 {
            self.waiting = self.waiting.saturating_sub(expired);
            self.waiting_dirty = true;
        }
        expired
    }

    /// The changed entries and (if it changed) the number waiting.
    pub fn changes(&self) -> (Vec<JoinChange>, Option<u64>) {
        let mut changes: Vec<JoinChange> = self
            .changed
            .iter()
            .map(|(key, (stored_expires_ms, now))| JoinChange {
                key: key.clone(),
                stored_expires_ms: *stored_expires_ms,
                now: now.clone(),
            })
            .collect();
        // Sorted keys make a checkpoint's batch (and tests) deterministic.
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        (changes, self.waiting_dirty.then_some(self.waiting))
    }

    /// The checkpoint holding [`JoinState::changes`] is durable: the store has them.
    pub(crate) fn mark_clean(&mut self) {
        self.changed.clear();
        self.waiting_dirty = false;
        self.failure = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Prediction;
    use std::collections::{BTreeMap, BTreeSet};

    fn prediction(id: &str, score: f64) -> PredictionRecord {
        PredictionRecord {
            model: "m".into(),
            version: "v1".into(),
            id: Some(id.into()),
            ts_ms: 1000,
            features: vec![],
            prediction: Some(Prediction {
                score: Some(score),
                class: None,
            }),
            latency_ms: None,
            segment: vec![],
        }
    }

    fn label(id: &str, y: f64) -> LabelRecord {
        LabelRecord {
            model: "m".into(),
            id: id.into(),
            label: LabelValue::Number(y),
            ts_ms: 5000,
        }
    }

    fn ttl100() -> LabelSettings {
        LabelSettings {
            ttl_ms: 100,
            ..LabelSettings::default()
        }
    }

    #[test]
    fn segments_are_capped() {
        let mut by = std::collections::BTreeMap::new();
        for s in ["eu", "us", "apac", "latam", "eu"] {
            segment_counts(&mut by, s, 2).add_class("a", "a");
        }
        assert_eq!(by.keys().collect::<Vec<_>>(), ["__other__", "eu", "us"]);
        assert_eq!(by["eu"].n, 2);
        assert_eq!(by["__other__"].n, 2);
    }

    #[test]
    fn a_shadow_pairs_with_the_live_version_in_any_order_and_counts_each_part_once() {
        let settings = LabelSettings {
            shadows: HashMap::from([(
                "m".to_string(),
                vec![ShadowSettings {
                    deployment: "s".into(),
                    baseline: "v1".into(),
                    candidate: "v2".into(),
                }],
            )]),
            ..ttl100()
        };
        let shadow = |id: &str, score: f64| PredictionRecord {
            version: "v2".into(),
            ..prediction(id, score)
        };
        // Every order of live prediction, shadow prediction and label.
        let orders: [[u8; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        for order in orders {
            let mut j = JoinState::default();
            let mut all = Joined::default();
            for part in order {
                let got = match part {
                    0 => j.on_prediction(&prediction("a", 0.9), &settings, &NoStoredJoins, 0),
                    1 => j.on_prediction(&shadow("a", 0.2), &settings, &NoStoredJoins, 0),
                    _ => j.on_label(&label("a", 1.0), &settings, &NoStoredJoins, 0),
                };
                all.outcomes.extend(got.outcomes);
                all.pairs.extend(got.pairs);
            }
            // The live version's outcome and the shadow's, each once.
            let mut versions: Vec<_> = all.outcomes.iter().map(|o| o.version.as_str()).collect();
            versions.sort();
            assert_eq!(versions, ["v1", "v2"], "{order:?}");
            let observations: Vec<_> = all.pairs.iter().filter_map(|p| p.pair.clone()).collect();
            assert_eq!(observations.len(), 1, "{order:?}");
            assert_eq!(observations[0].agree, Some(false));
            assert!((observations[0].difference.unwrap() + 0.7).abs() < 1e-12);
            let labelled: Vec<_> = all.pairs.iter().filter_map(|p| p.labelled).collect();
            assert_eq!(
                labelled,
                [crate::stats::shadow::PairCorrectness {
                    baseline: true,
                    candidate: false
                }],
                "{order:?}"
            );
            assert!(all.pairs.iter().all(|p| p.candidate.version == "v2"));
            assert_eq!(j.len(), 0, "{order:?}: nothing left waiting");
        }
        // A model without shadows never pairs; a version in neither arm does not either.
        let mut j = JoinState::default();
        let other = PredictionRecord {
            version: "v3".into(),
            ..prediction("b", 0.9)
        };
        assert!(j
            .on_prediction(&other, &settings, &NoStoredJoins, 0)
            .pairs
            .is_empty());
        assert_eq!(j.len(), 1, "v3 waits in the label join only");
    }

    #[test]
    fn joins_in_either_order_and_expires() {
        let mut j = JoinState::default();
        assert!(j
            .on_prediction(&prediction("a", 0.9), &ttl100(), &NoStoredJoins, 0)
            .outcome()
            .is_none());
        let o = j
            .on_label(&label("a", 1.0), &ttl100(), &NoStoredJoins, 10)
            .outcome()
            .unwrap();
        assert_eq!(
            (o.ts_ms, o.score, o.version.as_str()),
            (1000, Some(0.9), "v1")
        );
        assert!(j
            .on_label(&label("b", 0.0), &ttl100(), &NoStoredJoins, 10)
            .outcome()
            .is_none());
        let o = j
            .on_prediction(&prediction("b", 0.2), &ttl100(), &NoStoredJoins, 20)
            .outcome()
            .unwrap();
        assert_eq!(o.label, LabelValue::Number(0.0));
        assert_eq!(j.len(), 0);
        j.on_prediction(&prediction("c", 0.5), &ttl100(), &NoStoredJoins, 20);
        assert_eq!(j.expire(119, &NoStoredJoins, 10), 0);
        assert_eq!(j.expire(120, &NoStoredJoins, 10), 1);
        assert!(
            j.on_label(&label("c", 1.0), &ttl100(), &NoStoredJoins, 130)
                .outcome()
                .is_none(),
            "too late: waits as a label"
        );
    }

    #[test]
    fn without_a_labels_source_predictions_are_not_kept() {
        let off = LabelSettings {
            keep_predictions: false,
            ..ttl100()
        };
        let mut j = JoinState::default();
        assert!(j
            .on_prediction(&prediction("a", 0.9), &off, &NoStoredJoins, 0)
            .outcome()
            .is_none());
        assert_eq!(j.len(), 0, "nothing held for a join that cannot happen");
        assert!(j.changes().0.is_empty(), "nothing to write to the store");
    }

    /// The store's side of the join, as a map: what a checkpoint writes, and the
    /// expiry index as the store keeps it.
    #[derive(Default)]
    struct MapJoins {
        entries: BTreeMap<JoinKey, Pending>,
        index: BTreeSet<(i64, JoinKey)>,
    }

    impl MapJoins {
        fn checkpoint(&mut self, j: &mut JoinState) {
            for c in j.changes().0 {
                if let Some(e) = c.stored_expires_ms {
                    assert!(
                        self.index.remove(&(e, c.key.clone())),
                        "index held the stored entry"
                    );
                }
                match c.now {
                    Some(p) => {
                        self.index.insert((p.expires_ms(), c.key.clone()));
                        self.entries.insert(c.key, p);
                    }
                    None => {
                        self.entries.remove(&c.key);
                    }
                }
            }
            j.mark_clean();
            assert_eq!(
                j.len(),
                self.entries.len() as u64,
                "the count matches the store"
            );
        }
    }

    impl StoredJoins for MapJoins {
        fn get(&self, key: &JoinKey) -> Result<Option<Pending>, JoinReadError> {
            Ok(self.entries.get(key).cloned())
        }
        fn expired(&self, now_ms: i64, limit: usize) -> Result<Vec<(JoinKey, i64)>, JoinReadError> {
            Ok(self
                .index
                .iter()
                .take_while(|(e, _)| *e <= now_ms)
                .take(limit)
                .map(|(e, k)| (k.clone(), *e))
                .collect())
        }
    }

    #[test]
    fn checkpointed_entries_join_from_the_store_and_expire_through_its_index() {
        let mut store = MapJoins::default();
        let mut j = JoinState::default();
        for i in 0..10 {
            j.on_prediction(&prediction(&i.to_string(), 0.9), &ttl100(), &store, i);
        }
        // A duplicate id replaces the waiting prediction (and its expiry).
        j.on_prediction(&prediction("3", 0.1), &ttl100(), &store, 50);
        store.checkpoint(&mut j);
        assert_eq!(
            (j.len(), j.take_reads()),
            (
                10,
                JoinReads {
                    memory: 1,
                    store: 10
                }
            )
        );
        let o = j
            .on_label(&label("3", 1.0), &ttl100(), &store, 60)
            .outcome()
            .unwrap();
        assert_eq!(o.score, Some(0.1), "the replacing prediction joined");
        assert_eq!(j.len(), 9);
        store.checkpoint(&mut j);
        // Expired: ids 0..=4 (expiring at 100..=104), at most 3 per call.
        assert_eq!(j.expire(104, &store, 3), 3);
        store.checkpoint(&mut j);
        assert_eq!(j.expire(104, &store, 3), 1, "id 3 joined, so 4 is the last");
        store.checkpoint(&mut j);
        assert_eq!(j.len(), 5);
        assert!(
            j.on_label(&label("0", 1.0), &ttl100(), &store, 200)
                .outcome()
                .is_none(),
            "expired"
        );
        let o = j
            .on_label(&label("9", 0.0), &ttl100(), &store, 108)
            .outcome()
            .unwrap();
        assert_eq!(o.label, LabelValue::Number(0.0));
        assert_eq!(
            j.take_reads(),
            JoinReads {
                memory: 0,
                store: 3
            },
            "labels 3, 0 and 9"
        );
        // Changed and expired before any checkpoint: never written.
        j.on_prediction(&prediction("x", 0.5), &ttl100(), &store, 300);
        assert_eq!(j.expire(400, &store, 100), 6, "x, the label 0 and 5..=8");
        store.checkpoint(&mut j);
        assert_eq!(j.len(), 0);
        assert!(store.entries.is_empty() && store.index.is_empty());
    }

    #[test]
    fn a_failed_read_is_kept_until_the_checkpoint() {
        struct Broken;
        impl StoredJoins for Broken {
            fn get(&self, _: &JoinKey) -> Result<Option<Pending>, JoinReadError> {
                Err(JoinReadError("disk".into()))
            }
            fn expired(&self, _: i64, _: usize) -> Result<Vec<(JoinKey, i64)>, JoinReadError> {
                Ok(vec![])
            }
        }
        let mut j = JoinState::default();
        j.on_label(&label("a", 1.0), &ttl100(), &Broken, 0);
        assert_eq!(j.failure(), Some(&JoinReadError("disk".into())));
    }
}
