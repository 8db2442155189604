//! Joining ground truth to predictions by (model, id), in either arrival order,
//! within a TTL. Pure: records and a `now` in, [`Outcome`]s out.
//!
//! Whichever side arrives first waits in [`JoinState`] (persisted with every
//! checkpoint) until the other side arrives or the TTL passes. The outcome is
//! attributed to the prediction's event time, so a label that comes days later
//! updates the bucket its prediction is in.
//!
//! Memory: one entry (~150 bytes) per prediction waiting for its label, bounded by
//! prediction rate × TTL; expired entries are dropped every tick and counted.

use std::collections::{BTreeSet, HashMap};

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
}

impl Pending {
    fn expires_ms(&self) -> i64 {
        match self {
            Pending::Prediction { expires_ms, .. } | Pending::Label { expires_ms, .. } => {
                *expires_ms
            }
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

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct JoinState {
    pending: HashMap<JoinKey, Pending>,
    dirty: BTreeSet<JoinKey>,
    removed: BTreeSet<JoinKey>,
}

impl JoinState {
    pub(crate) fn restored(pending: HashMap<JoinKey, Pending>) -> JoinState {
        JoinState {
            pending,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn take(&mut self, key: &JoinKey) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.dirty.remove(key);
        self.removed.insert(key.clone());
        Some(p)
    }

    fn put(&mut self, key: JoinKey, p: Pending) {
        self.removed.remove(&key);
        self.dirty.insert(key.clone());
        self.pending.insert(key, p);
    }

    /// A prediction with an id: joins a waiting label, or waits for one.
    pub(crate) fn on_prediction(
        &mut self,
        p: &PredictionRecord,
        settings: &LabelSettings,
        now_ms: i64,
    ) -> Option<Outcome> {
        if !settings.keep_predictions {
            return None;
        }
        let id = p.id.as_ref()?;
        let segment = settings.segment_key.as_ref().and_then(|k| {
            p.segment
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        });
        let key = (p.model.clone(), id.clone());
        let (score, class) = match &p.prediction {
            Some(pr) => (pr.score, pr.class.clone()),
            None => (None, None),
        };
        if matches!(self.pending.get(&key), Some(Pending::Label { .. })) {
            if let Some(Pending::Label { label, .. }) = self.take(&key) {
                return Some(Outcome {
                    model: p.model.clone(),
                    version: p.version.clone(),
                    ts_ms: p.ts_ms,
                    score,
                    class,
                    segment,
                    label,
                });
            }
        }
        self.put(
            key,
            Pending::Prediction {
                version: p.version.clone(),
                ts_ms: p.ts_ms,
                score,
                class,
                segment,
                expires_ms: now_ms.saturating_add(settings.ttl_ms),
            },
        );
        None
    }

    /// A label: joins its waiting prediction, or waits for it.
    pub(crate) fn on_label(
        &mut self,
        l: &LabelRecord,
        settings: &LabelSettings,
        now_ms: i64,
    ) -> Option<Outcome> {
        let ttl_ms = settings.ttl_ms;
        let key = (l.model.clone(), l.id.clone());
        if matches!(self.pending.get(&key), Some(Pending::Prediction { .. })) {
            if let Some(Pending::Prediction {
                version,
                ts_ms,
                score,
                class,
                segment,
                ..
            }) = self.take(&key)
            {
                return Some(Outcome {
                    model: l.model.clone(),
                    version,
                    ts_ms,
                    score,
                    class,
                    segment,
                    label: l.label.clone(),
                });
            }
        }
        self.put(
            key,
            Pending::Label {
                label: l.label.clone(),
                expires_ms: now_ms.saturating_add(ttl_ms),
            },
        );
        None
    }

    /// Drops entries past their TTL; returns how many.
    pub(crate) fn expire(&mut self, now_ms: i64) -> usize {
        let expired: Vec<JoinKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.expires_ms() <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.take(k);
        }
        expired.len()
    }

    pub fn changes(&self) -> (Vec<(JoinKey, Pending)>, Vec<JoinKey>) {
        (
            self.dirty
                .iter()
                .filter_map(|k| self.pending.get(k).map(|p| (k.clone(), p.clone())))
                .collect(),
            self.removed.iter().cloned().collect(),
        )
    }

    pub(crate) fn mark_clean(&mut self) {
        self.dirty.clear();
        self.removed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Prediction;

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
    fn joins_in_either_order_and_expires() {
        let mut j = JoinState::default();
        assert!(j
            .on_prediction(&prediction("a", 0.9), &ttl100(), 0)
            .is_none());
        let o = j.on_label(&label("a", 1.0), &ttl100(), 10).unwrap();
        assert_eq!(
            (o.ts_ms, o.score, o.version.as_str()),
            (1000, Some(0.9), "v1")
        );
        assert!(j.on_label(&label("b", 0.0), &ttl100(), 10).is_none());
        let o = j
            .on_prediction(&prediction("b", 0.2), &ttl100(), 20)
            .unwrap();
        assert_eq!(o.label, LabelValue::Number(0.0));
        assert!(j.is_empty());
        j.on_prediction(&prediction("c", 0.5), &ttl100(), 20);
        assert_eq!(j.expire(119), 0);
        assert_eq!(j.expire(120), 1);
        assert!(
            j.on_label(&label("c", 1.0), &ttl100(), 130).is_none(),
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
        assert!(j.on_prediction(&prediction("a", 0.9), &off, 0).is_none());
        assert!(j.is_empty(), "nothing held for a join that cannot happen");
        assert!(j.changes().0.is_empty(), "nothing to write to the store");
    }
}
