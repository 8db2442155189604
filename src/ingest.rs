//! The path every record takes, whatever its source: decode, apply to state or
//! dead-letter, and checkpoint. Sources ([`crate::kafka`], [`crate::replay`]) only move
//! bytes in and call [`Ingest::handle`] and [`Ingest::checkpoint`].
//!
//! A checkpoint is ordered so that nothing is lost and nothing counted twice:
//! 1. the dead-letter sink is flushed (a rejected record is durable in the dead-letter
//!    topic before its offset is),
//! 2. state and offsets are written to the store in one durable transaction,
//! 3. only then does the caller commit offsets to Kafka.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::base::sync::lock;
use crate::base::time::unix_now_ms;
use crate::config::Config;
use crate::event::{
    decode, unframe, DecodeError, DecodeReason, Record, RecordFields, SourceRole, WireFormat,
};
use crate::join::LabelSettings;
use crate::metrics::Metrics;
use crate::state::{ApplyContext, IngestState};
use crate::store::{Store, StoreError};
use crate::window::{Observed, ProfileSet, WindowMemory, WindowSettings, WindowState};

/// Where a record came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub topic: &'a str,
    /// `None` for file replays, which have no offsets to track.
    pub partition: Option<i32>,
    pub offset: i64,
    /// Used when the record carries no timestamp of its own.
    pub timestamp_ms: i64,
}

/// A record that did not decode, on its way to the dead-letter sink.
pub(crate) struct Rejected<'a> {
    pub origin: Origin<'a>,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub error: &'a DecodeError,
    /// The Confluent schema id of a `confluent-json` source's message.
    pub schema_id: Option<u32>,
}

/// Where rejected records go. `flush` returns only when every record handed over so far
/// is durable, or fails.
pub(crate) trait DeadLetterSink {
    fn send(&mut self, rejected: Rejected<'_>);
    fn flush(&mut self) -> Result<(), String>;
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Transient: the checkpoint is retried at the next interval, nothing is lost.
    #[error("dead-letter records are not yet delivered: {0}")]
    DeadLetter(String),
    /// Transient: the changelog transaction failed (cluster mode); nothing was
    /// written, and the next checkpoint writes it all.
    #[error("changelog not written: {0}")]
    Replica(String),
    /// Fatal: the daemon stops rather than run without durable state.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Fatal: a join entry could not be read, so the state since the last checkpoint
    /// may lack a join; it is not persisted, and a restart replays from that checkpoint.
    #[error(transparent)]
    JoinRead(#[from] crate::join::JoinReadError),
    /// Fatal, for the same reason: a bucket written since the last checkpoint could
    /// not be read first.
    #[error(transparent)]
    BucketRead(#[from] crate::window::BucketReadError),
}

/// Decodes records as their topic's role says. Pure and cheap to clone: the Kafka
/// source decodes a batch on two threads, then applies it in order.
#[derive(Clone)]
pub(crate) struct Decoder {
    sources: Arc<HashMap<String, (SourceRole, RecordFields, WireFormat)>>,
    max_message_bytes: usize,
}

impl Decoder {
    /// `None`: the topic is not configured. `role` overrides the topic lookup.
    pub fn decode(
        &self,
        origin: Origin<'_>,
        role: Option<(SourceRole, &RecordFields)>,
        payload: &[u8],
    ) -> Option<Result<crate::event::Record, DecodeError>> {
        let (role, paths, format) = match role {
            Some((role, paths)) => (role, paths, WireFormat::Json),
            None => {
                let (role, paths, format) = self.sources.get(origin.topic)?;
                (*role, paths, *format)
            }
        };
        if payload.len() > self.max_message_bytes {
            return Some(Err(crate::event::err(
                DecodeReason::TooLarge,
                format!(
                    "{} bytes; [limits] max_message_bytes is {}",
                    payload.len(),
                    self.max_message_bytes
                ),
            )));
        }
        Some(
            unframe(payload, format)
                .and_then(|(json, _)| decode(json, role, paths, origin.timestamp_ms)),
        )
    }

    /// The Confluent schema id in `payload`'s header, when its topic is `confluent-json`.
    fn schema_id(&self, topic: &str, payload: &[u8]) -> Option<u32> {
        let (_, _, format) = self.sources.get(topic)?;
        unframe(payload, *format).ok()?.1
    }
}

/// Which decoded records are counted: known models only, and event times the windows
/// can hold. Pure; `now_ms` comes from the caller.
struct Admission {
    /// Models with a reference profile or a `[models.<name>]` table; empty: any model,
    /// up to `max_models`.
    known: HashSet<String>,
    /// Models counted so far (only tracked while `known` is empty).
    seen: HashSet<String>,
    max_models: usize,
    max_future_ms: i64,
    /// Versions with data in the windows, per model: refreshed from the buckets at
    /// every tick (so a version whose last bucket aged out no longer counts) and
    /// grown as new versions are admitted.
    versions: HashMap<String, HashSet<String>>,
    max_versions: usize,
}

impl Admission {
    fn check(
        &mut self,
        record: &Record,
        windows: &WindowSettings,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        let model = record.model();
        if self.known.is_empty() {
            if !self.seen.contains(model) {
                if self.seen.len() >= self.max_models {
                    return Err(crate::event::err(
                        DecodeReason::UnknownModel,
                        format!(
                            "model `{model}` would be model number {}; [limits] max_models is {}",
                            self.seen.len() + 1,
                            self.max_models
                        ),
                    ));
                }
                self.seen.insert(model.to_string());
            }
        } else if !self.known.contains(model) {
            return Err(crate::event::err(
                DecodeReason::UnknownModel,
                format!("model `{model}` has no reference profile and no [models.{model}] table"),
            ));
        }
        // Labels are attributed to their prediction's time: only a prediction's own
        // time places it in a bucket.
        let Record::Prediction(p) = record else {
            return Ok(());
        };
        let ts_ms = p.ts_ms;
        if ts_ms > now_ms.saturating_add(self.max_future_ms) {
            return Err(crate::event::err(
                DecodeReason::FromTheFuture,
                format!(
                    "event time {} is {} s ahead of the clock; [limits] max_future is {} s",
                    crate::base::time::rfc3339(ts_ms),
                    (ts_ms - now_ms) / 1000,
                    self.max_future_ms / 1000
                ),
            ));
        }
        if windows.tier_for(ts_ms, now_ms).is_none() {
            return Err(crate::event::err(
                DecodeReason::TooLate,
                format!(
                    "event time {} is older than every window tier keeps ({} days)",
                    crate::base::time::rfc3339(ts_ms),
                    windows.day_retention_ms / 86_400_000
                ),
            ));
        }
        self.check_version(&p.model, &p.version)
    }

    /// A version the model already has data of, or a new one while the model has
    /// fewer than `max_versions`.
    fn check_version(&mut self, model: &str, version: &str) -> Result<(), DecodeError> {
        let Some(versions) = self.versions.get_mut(model) else {
            let first = HashSet::from([version.to_string()]);
            self.versions.insert(model.to_string(), first);
            return Ok(());
        };
        if versions.contains(version) {
            return Ok(());
        }
        if versions.len() >= self.max_versions {
            return Err(crate::event::err(
                DecodeReason::TooManyVersions,
                format!(
                    "version `{version}` would be version number {} of model `{model}` with \
                     data in the windows; [limits] max_versions is {}",
                    versions.len() + 1,
                    self.max_versions
                ),
            ));
        }
        versions.insert(version.to_string());
        Ok(())
    }

    /// The versions of each model that have buckets now.
    fn refresh_versions(&mut self, windows: &WindowState) {
        self.versions.clear();
        for (model, version) in windows.series() {
            self.versions.entry(model).or_default().insert(version);
        }
    }
}

pub(crate) struct Ingest<D> {
    state: IngestState,
    store: Store,
    metrics: Metrics,
    sink: D,
    decoder: Decoder,
    profiles: Arc<ProfileSet>,
    windows: WindowSettings,
    memory: WindowMemory,
    labels: LabelSettings,
    admission: Admission,
    /// Cluster mode: the input topics' partition count; a record must be on its
    /// model's partition ([`crate::base::partition::partition_of`]).
    partitions: Option<i32>,
}

impl<D: DeadLetterSink> Ingest<D> {
    /// Restores the last checkpoint from `store`.
    pub fn new(
        config: &Config,
        store: Store,
        metrics: Metrics,
        sink: D,
    ) -> Result<Self, StoreError> {
        let state = store.load()?;
        let profiles = Arc::new(ProfileSet::new(store.references()?));
        let mut admission = Admission {
            known: profiles
                .models()
                .chain(config.models.keys().map(String::as_str))
                .map(str::to_string)
                .collect(),
            seen: state.events().keys().map(|(m, _)| m.clone()).collect(),
            max_models: config.limits.max_models,
            max_future_ms: i64::try_from(config.limits.max_future.as_millis()).unwrap_or(i64::MAX),
            versions: HashMap::new(),
            max_versions: config.limits.max_versions,
        };
        admission.refresh_versions(state.windows());
        metrics.restore(&state);
        if let Ok(size) = store.size_on_disk() {
            metrics.store_size.set(size as i64);
        }
        let sources = config
            .sources
            .iter()
            .map(|s| {
                let source = (s.role, s.fields.clone(), s.format);
                (s.topic.get_ref().clone(), source)
            })
            .collect();
        Ok(Ingest {
            state,
            store,
            metrics,
            sink,
            decoder: Decoder {
                sources: Arc::new(sources),
                max_message_bytes: config.limits.max_message_bytes,
            },
            admission,
            partitions: None,
            profiles,
            windows: config.windows.settings(),
            memory: WindowMemory::from_budget(config.storage.memory_budget),
            labels: crate::join::LabelSettings {
                keep_predictions: config.sources.iter().any(|s| s.role == SourceRole::Labels),
                ..config.label_settings()
            },
        })
    }

    /// Keep predictions for labels even without a labels source (replays: the labels
    /// may come in a later replay).
    pub(crate) fn keep_predictions_for_labels(&mut self) {
        self.labels.keep_predictions = true;
    }

    pub fn state(&self) -> &IngestState {
        &self.state
    }

    /// Cluster mode: records are owned through their partition, of `partitions`.
    pub(crate) fn own_by_partition(&mut self, partitions: i32) {
        self.partitions = Some(partitions);
    }

    /// Replaces the state with the store's (cluster mode, after the owned partitions
    /// changed and the store was restored or wiped). Counters of the metrics are not
    /// touched: they count what this instance handled.
    pub(crate) fn reload(&mut self) -> Result<(), StoreError> {
        let state = self.store.load()?;
        self.admission.seen = state.events().keys().map(|(m, _)| m.clone()).collect();
        self.admission.versions.clear();
        self.admission.refresh_versions(state.windows());
        self.state = state;
        self.metrics
            .pending_joins
            .set(self.state.pending_joins() as i64);
        Ok(())
    }

    /// The models with state here (cluster mode: the owned ones that have had records).
    pub(crate) fn models(&self) -> std::collections::BTreeSet<String> {
        let mut out: std::collections::BTreeSet<String> =
            self.state.events().keys().map(|(m, _)| m.clone()).collect();
        out.extend(self.state.labels().keys().cloned());
        out
    }

    /// Continues a partition at `next_offset`, past records another consumer-group
    /// member applied to its own state (persisted at the next checkpoint).
    pub(crate) fn resume_at(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.state.advance(topic, partition, next_offset);
    }

    /// The reference profiles loaded at start.
    pub(crate) fn profiles(&self) -> &Arc<ProfileSet> {
        &self.profiles
    }

    /// Folds aged buckets into coarser tiers and drops join entries past their TTL
    /// (both persisted at the next checkpoint).
    pub(crate) fn compact(&mut self, now_ms: i64) {
        self.state
            .windows_mut()
            .compact(&self.windows, now_ms, &self.store);
        let before: Vec<String> = self.admission.versions.keys().cloned().collect();
        self.admission.refresh_versions(self.state.windows());
        let gauge = &self.metrics.model_versions;
        for model in before {
            if !self.admission.versions.contains_key(&model) {
                let _ = gauge.remove_label_values(&[&model]);
            }
        }
        for (model, versions) in &self.admission.versions {
            gauge.with_label_values(&[model]).set(versions.len() as i64);
        }
        let expired = self.state.expire_pending(now_ms, &self.store);
        self.metrics.join_expired.inc_by(expired);
        self.metrics
            .pending_joins
            .set(self.state.pending_joins() as i64);
        self.record_window_memory();
    }

    /// The windows' memory and cache reads, as metrics.
    fn record_window_memory(&mut self) {
        let reads = self.state.windows_mut().take_reads();
        let m = &self.metrics.bucket_reads;
        m.with_label_values(&["memory"]).inc_by(reads.memory);
        m.with_label_values(&["store"]).inc_by(reads.store);
        let (buckets, resident, resident_bytes) = self.state.windows().held();
        let (sum_bytes, _) = self.state.windows().sums_held();
        self.metrics
            .buckets
            .with_label_values(&["store"])
            .set(buckets as i64);
        self.metrics
            .buckets
            .with_label_values(&["memory"])
            .set(resident as i64);
        let memory = &self.metrics.window_memory;
        memory
            .with_label_values(&["buckets"])
            .set(resident_bytes as i64);
        memory.with_label_values(&["sums"]).set(sum_bytes as i64);
    }

    pub fn sink(&self) -> &D {
        &self.sink
    }

    /// Decodes one record as its topic's role says, and applies or dead-letters it.
    /// `role` overrides the topic lookup (file replays).
    pub fn handle(
        &mut self,
        origin: Origin<'_>,
        role: Option<(SourceRole, &RecordFields)>,
        key: Option<&[u8]>,
        payload: &[u8],
    ) {
        let decoded = self.decoder.decode(origin, role, payload);
        self.apply(origin, key, payload, decoded, unix_now_ms());
    }

    /// A decoder for this pipeline's topics, for decoding on other threads.
    pub fn decoder(&self) -> Decoder {
        self.decoder.clone()
    }

    /// Applies a record decoded by [`Decoder::decode`] (or dead-letters it) and
    /// advances its partition's offset. Records must be applied in offset order.
    pub(crate) fn apply(
        &mut self,
        origin: Origin<'_>,
        key: Option<&[u8]>,
        payload: &[u8],
        decoded: Option<Result<crate::event::Record, DecodeError>>,
        now_ms: i64,
    ) {
        let partitions = self.partitions;
        let decoded = decoded.map(|r| {
            r.and_then(|record| {
                if let (Some(n), Some(on)) = (partitions, origin.partition) {
                    on_its_partition(record.model(), on, n)?;
                }
                self.admission
                    .check(&record, &self.windows, now_ms)
                    .map(|()| record)
            })
        });
        match decoded {
            None => {
                tracing::warn!(topic = origin.topic, "record from an unconfigured topic");
                return;
            }
            Some(Ok(record)) => {
                match &record {
                    crate::event::Record::Prediction(p) => self
                        .metrics
                        .events
                        .with_label_values(&[&p.model, &p.version])
                        .inc(),
                    crate::event::Record::Label(l) => {
                        self.metrics.labels.with_label_values(&[&l.model]).inc()
                    }
                }
                let ctx = ApplyContext {
                    profiles: &self.profiles,
                    windows: &self.windows,
                    labels: &self.labels,
                    joins: &self.store,
                    buckets: &self.store,
                    now_ms,
                };
                if self.state.apply(&record, &ctx) == Observed::TooLate {
                    self.metrics
                        .late_events
                        .with_label_values(&[record.model()])
                        .inc();
                }
            }
            Some(Err(error)) => {
                self.metrics
                    .decode_errors
                    .with_label_values(&[error.reason.as_str()])
                    .inc();
                tracing::debug!(topic = origin.topic, partition = ?origin.partition,
                    offset = origin.offset, %error, "rejected record");
                self.sink.send(Rejected {
                    origin,
                    key,
                    payload,
                    error: &error,
                    schema_id: self.decoder.schema_id(origin.topic, payload),
                });
            }
        }
        if let Some(partition) = origin.partition {
            self.state
                .advance(origin.topic, partition, origin.offset + 1);
        }
    }

    /// The join's changes in memory reached [`crate::join::MAX_CHANGES_IN_MEMORY`], or
    /// the buckets in memory their share of the budget: a checkpoint now keeps memory
    /// bounded whatever the record rate.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.state.join_changes() >= crate::join::MAX_CHANGES_IN_MEMORY
            || self.state.windows().over_budget(&self.memory)
    }

    /// Makes everything handled so far durable. On success the caller may commit
    /// `state().offsets()` to Kafka.
    pub fn checkpoint(&mut self) -> Result<(), CheckpointError> {
        let started = Instant::now();
        let result = self.try_checkpoint();
        match &result {
            Ok(()) => {
                let took = started.elapsed();
                if took > std::time::Duration::from_secs(1) {
                    tracing::warn!(?took, "slow checkpoint (dead-letter flush or disk)");
                }
                self.metrics.checkpoint_duration.observe(took.as_secs_f64());
                self.metrics.last_checkpoint.set(unix_now_ms() / 1000);
                if let Ok(size) = self.store.size_on_disk() {
                    self.metrics.store_size.set(size as i64);
                }
            }
            Err(_) => self.metrics.checkpoint_failures.inc(),
        }
        result
    }

    fn try_checkpoint(&mut self) -> Result<(), CheckpointError> {
        self.sink.flush().map_err(CheckpointError::DeadLetter)?;
        if let Some(e) = self.state.join_failure() {
            return Err(e.clone().into());
        }
        if let Some(e) = self.state.windows().failure() {
            return Err(e.clone().into());
        }
        let reads = self.state.take_join_reads();
        let join_reads = &self.metrics.join_reads;
        join_reads
            .with_label_values(&["memory"])
            .inc_by(reads.memory);
        join_reads.with_label_values(&["store"]).inc_by(reads.store);
        let changes = self.state.changes();
        if changes.is_empty() {
            return Ok(());
        }
        match self.store.write_checkpoint(&changes) {
            Err(StoreError::Replica(e)) => return Err(CheckpointError::Replica(e)),
            other => other?,
        }
        self.state
            .mark_clean(&self.windows, &self.memory, unix_now_ms());
        Ok(())
    }
}

/// Cluster mode: a record whose model hashes to another partition would be counted by
/// an instance that does not own the model.
fn on_its_partition(model: &str, on: i32, partitions: i32) -> Result<(), DecodeError> {
    let owner = crate::base::partition::partition_of(model.as_bytes(), partitions);
    if owner == on {
        return Ok(());
    }
    Err(DecodeError {
        reason: DecodeReason::Partition,
        detail: format!(
            "model `{model}` is owned by partition {owner} of {partitions}, the record is on \
             partition {on}: with [cluster] enabled, key records by model with Kafka's default \
             (murmur2) partitioner"
        ),
    })
}

impl<D: DeadLetterSink + Send> crate::evaluate::WindowSource for std::sync::Mutex<Ingest<D>> {
    fn series(&self) -> std::collections::BTreeSet<(String, String)> {
        lock(self).state.windows().series()
    }

    fn window(
        &self,
        model: &str,
        version: Option<&str>,
        window_ms: i64,
        rolling_reference_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<crate::evaluate::WindowBuckets, crate::window::BucketReadError> {
        let mut guard = lock(self);
        let ingest = &mut *guard;
        crate::evaluate::window_bucket(
            ingest.state.windows_mut(),
            &ingest.profiles,
            model,
            version,
            window_ms,
            rolling_reference_ms,
            now_ms,
            &ingest.memory,
            &ingest.store,
        )
    }

    fn profiles(&self) -> Arc<ProfileSet> {
        lock(self).profiles.clone()
    }

    fn compact(&self, now_ms: i64) {
        lock(self).compact(now_ms);
    }

    fn history_buckets(
        &self,
        model: &str,
        version: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<
        Vec<(crate::window::Tier, i64, i64, crate::window::Bucket)>,
        crate::window::BucketReadError,
    > {
        let mut guard = lock(self);
        let ingest = &mut *guard;
        let profile = ingest
            .profiles
            .get(model, version.unwrap_or(""))
            .map(|p| &p.profile);
        let width = |t| ingest.windows.width(t);
        Ok(ingest
            .state
            .windows_mut()
            .buckets_between(model, version, profile, (from_ms, to_ms), &ingest.store)?
            .into_iter()
            .map(|(tier, start, b)| (tier, start, width(tier), b))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::PredictionRecord;

    const NOW: i64 = 1_800_000_000_000;

    fn prediction(model: &str, ts_ms: i64) -> Record {
        Record::Prediction(PredictionRecord {
            model: model.into(),
            version: "v1".into(),
            id: None,
            ts_ms,
            features: vec![],
            prediction: None,
            latency_ms: None,
            segment: vec![],
        })
    }

    fn admission(known: &[&str]) -> Admission {
        Admission {
            known: known.iter().map(|m| m.to_string()).collect(),
            seen: HashSet::new(),
            max_models: 2,
            max_future_ms: 3_600_000,
            versions: HashMap::new(),
            max_versions: 2,
        }
    }

    fn reason(a: &mut Admission, r: &Record) -> Option<DecodeReason> {
        a.check(r, &WindowSettings::default(), NOW)
            .err()
            .map(|e| e.reason)
    }

    #[test]
    fn without_configured_models_the_first_max_models_are_accepted() {
        let mut a = admission(&[]);
        assert_eq!(reason(&mut a, &prediction("a", NOW)), None);
        assert_eq!(reason(&mut a, &prediction("b", NOW)), None);
        assert_eq!(reason(&mut a, &prediction("a", NOW)), None);
        assert_eq!(
            reason(&mut a, &prediction("c", NOW)),
            Some(DecodeReason::UnknownModel)
        );
        assert_eq!(reason(&mut a, &prediction("b", NOW)), None);
    }

    #[test]
    fn configured_models_only_and_times_the_windows_can_hold() {
        let mut a = admission(&["churn"]);
        assert_eq!(reason(&mut a, &prediction("churn", NOW)), None);
        assert_eq!(
            reason(&mut a, &prediction("fraud", NOW)),
            Some(DecodeReason::UnknownModel)
        );
        // Up to max_future ahead, and back to the day tier's retention (90 days).
        assert_eq!(reason(&mut a, &prediction("churn", NOW + 3_600_000)), None);
        assert_eq!(
            reason(&mut a, &prediction("churn", NOW + 3_600_001)),
            Some(DecodeReason::FromTheFuture)
        );
        assert_eq!(
            reason(&mut a, &prediction("churn", NOW - 89 * 86_400_000)),
            None
        );
        assert_eq!(
            reason(&mut a, &prediction("churn", NOW - 91 * 86_400_000)),
            Some(DecodeReason::TooLate)
        );
    }

    fn version(model: &str, version: &str) -> Record {
        let Record::Prediction(mut p) = prediction(model, NOW) else {
            unreachable!()
        };
        p.version = version.to_string();
        Record::Prediction(p)
    }

    #[test]
    fn versions_beyond_max_versions_are_refused_until_one_ages_out() {
        let mut a = admission(&["m", "n"]);
        assert_eq!(reason(&mut a, &version("m", "v1")), None);
        assert_eq!(reason(&mut a, &version("m", "v2")), None);
        assert_eq!(
            reason(&mut a, &version("m", "v3")),
            Some(DecodeReason::TooManyVersions)
        );
        // Known versions still count, and the cap is per model.
        assert_eq!(reason(&mut a, &version("m", "v1")), None);
        assert_eq!(reason(&mut a, &version("n", "v3")), None);
        // Labels carry no version.
        let label = Record::Label(crate::event::LabelRecord {
            model: "m".into(),
            id: "x".into(),
            label: crate::event::LabelValue::Number(1.0),
            ts_ms: NOW,
        });
        assert_eq!(reason(&mut a, &label), None);

        // v1's buckets aged out: at the next tick only v2 has data, so v3 fits.
        let settings = WindowSettings::default();
        let mut windows = WindowState::default();
        let Record::Prediction(p) = version("m", "v2") else {
            unreachable!()
        };
        windows.observe(&p, None, &settings, NOW, &crate::window::NoStoredBuckets);
        a.refresh_versions(&windows);
        assert_eq!(reason(&mut a, &version("m", "v3")), None);
        assert_eq!(
            reason(&mut a, &version("m", "v1")),
            Some(DecodeReason::TooManyVersions)
        );
    }
}
