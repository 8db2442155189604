//! One bucket's accumulators: they add up ([`Bucket::merge`]), and their counts also
//! subtract ([`Bucket::subtract`]), which is what lets a window be maintained as a
//! running sum ([`super::sum`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::reference::{FeatureCounts, ReferenceProfile};
use crate::stats::latency::LatencyHistogram;
use crate::stats::performance::PerformanceCounts;
use crate::stats::shadow::PairCounts;

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
    /// Of a shadow version's bucket: its predictions paired with the live
    /// version's, by shadow deployment name. Last, so that a bucket stored before
    /// it existed still reads (`store::upgrade::bucket_from_binary`).
    #[serde(default)]
    pub shadow: BTreeMap<String, PairCounts>,
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
            shadow: BTreeMap::new(),
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
        for (deployment, pairs) in &other.shadow {
            self.shadow
                .entry(deployment.clone())
                .or_default()
                .merge(pairs);
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

    /// Takes away the counts of a bucket merged in before. What cannot be taken away
    /// is left alone — `last_event_ms`, numeric min and max, the float sums of the
    /// performance counts — and kept apart by the caller; what reaches zero is
    /// dropped, so the counts equal a merge that never had `other`.
    pub fn subtract(&mut self, other: &Bucket) {
        for (segment, counts) in &other.performance_by_segment {
            if let Some(c) = self.performance_by_segment.get_mut(segment) {
                c.subtract(counts);
                if c.n == 0 {
                    self.performance_by_segment.remove(segment);
                }
            }
        }
        for (deployment, pairs) in &other.shadow {
            if let Some(p) = self.shadow.get_mut(deployment) {
                p.subtract(pairs);
                if p.is_empty() {
                    self.shadow.remove(deployment);
                }
            }
        }
        self.events -= other.events;
        self.unknown_features -= other.unknown_features;
        self.latency.subtract(&other.latency);
        self.performance.subtract(&other.performance);
        if self.profile_id == other.profile_id {
            for (a, b) in self.features.iter_mut().zip(&other.features) {
                match (a, b) {
                    (FeatureCounts::Numeric(a), FeatureCounts::Numeric(b)) => a.subtract(b),
                    (FeatureCounts::Categorical(a), FeatureCounts::Categorical(b)) => a.subtract(b),
                    _ => {}
                }
            }
        }
    }

    /// About how many bytes of memory the bucket holds: what the memory budget counts.
    pub(crate) fn heap_bytes(&self) -> usize {
        const ENTRY: usize = 64;
        let features: usize = self
            .features
            .iter()
            .map(|f| {
                ENTRY
                    + 8 * match f {
                        FeatureCounts::Numeric(c) => c.bins.len(),
                        FeatureCounts::Categorical(c) => c.bins.len(),
                    }
            })
            .sum();
        let segments: usize = self
            .performance_by_segment
            .iter()
            .map(|(k, c)| ENTRY + k.len() + c.heap_bytes())
            .sum();
        let shadow: usize = self
            .shadow
            .iter()
            .map(|(k, p)| ENTRY + k.len() + p.heap_bytes())
            .sum();
        std::mem::size_of::<Bucket>()
            + shadow
            + features
            + self.latency.heap_bytes()
            + self.performance.heap_bytes()
            + segments
    }
}
