//! Every sled tree and key layout in one place.
//!
//! One tree, `state`, holds the counters and the consumed offsets, so that a
//! checkpoint is a single atomic [`sled::Batch`] followed by a flush: after a crash
//! the state and the offsets it reflects are always from the same checkpoint.
//!
//! Key layout (`\0`-separated; names never contain control characters, see
//! [`crate::event`]):
//!
//! | key                                   | value                   |
//! |---------------------------------------|-------------------------|
//! | `meta\0schema`                        | u32 BE schema version   |
//! | `events\0{model}\0{version}`          | u64 BE accepted records |
//! | `labels\0{model}`                     | u64 BE accepted labels  |
//! | `offset\0{topic}\0{partition i32 BE}` | i64 BE next offset      |
//! | `bucket\0{model}\0{version}\0{tier u8}{start}` | JSON [`Bucket`](crate::window::Bucket)  |
//!
//! | `join\0{model}\0{id}`                  | JSON [`crate::join::Pending`] |
//! | `alert\0{fingerprint}`                | JSON [`crate::rules::Alert`] |
//! | `group\0{model}`                      | JSON [`crate::notify::GroupState`] |
//! | `retrain\0{model}`                    | i64 BE ms of the last retraining request |
//! | `schedule\0{model}`                   | i64 BE ms up to which schedules were checked |
//! | `outbox\0{id}`                        | JSON [`crate::notify::OutboxEntry`] |
//!
//! The ingest checkpoint writes the first six prefixes; the alerting stage writes
//! `alert`, `group`, `retrain`, `schedule` and new `outbox` entries in one batch of
//! its own per evaluation, and the outbox sender removes `outbox` entries once they are
//! delivered. The two writers never touch the same keys.
//!
//! (`start` is the bucket's event-time start in ms, i64 with the sign bit flipped,
//! big-endian, so keys sort by time.)
//!
//! Tree `references` holds reference profiles as JSON, one per import, under
//! `{model}\0{version}\0{sequence u64 BE}` so that the last key of a prefix is the
//! newest profile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::reference::{FeatureKind, ReferenceProfile};
use crate::state::{Changes, IngestState};
use crate::stats::histogram::CategoryBins;
use crate::window::BucketKey;

const SCHEMA_VERSION: u32 = 1;
const STATE_TREE: &str = "state";
const REFERENCES_TREE: &str = "references";
const SCHEMA_KEY: &[u8] = b"meta\0schema";
const EVENTS: &[u8] = b"events\0";
const LABELS: &[u8] = b"labels\0";
const OFFSET: &[u8] = b"offset\0";
const BUCKET: &[u8] = b"bucket\0";
const JOIN: &[u8] = b"join\0";
const ALERT: &[u8] = b"alert\0";
const GROUP: &[u8] = b"group\0";
const RETRAIN: &[u8] = b"retrain\0";
const SCHEDULE: &[u8] = b"schedule\0";
const OUTBOX: &[u8] = b"outbox\0";

/// The alerting stage's persisted state.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct AlertingState {
    pub alerts: Vec<crate::rules::Alert>,
    pub groups: Vec<crate::notify::GroupState>,
    pub last_retrain: BTreeMap<String, i64>,
    pub schedules_checked: BTreeMap<String, i64>,
}

/// What one evaluation changed, written atomically with the outbox entries it created.
#[derive(Debug, Default, Clone)]
pub(crate) struct AlertingChanges {
    pub alerts: Vec<crate::rules::Alert>,
    pub removed_alerts: Vec<String>,
    pub groups: Vec<crate::notify::GroupState>,
    pub removed_groups: Vec<String>,
    pub last_retrain: Vec<(String, i64)>,
    pub schedules_checked: Vec<(String, i64)>,
    pub outbox: Vec<crate::notify::OutboxEntry>,
}

impl AlertingChanges {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.removed_alerts.is_empty()
            && self.groups.is_empty()
            && self.removed_groups.is_empty()
            && self.last_retrain.is_empty()
            && self.schedules_checked.is_empty()
            && self.outbox.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source} (is another driftd using it?)")]
    Open { path: PathBuf, source: sled::Error },
    #[error("store at {path} has schema version {found}, this driftd reads {SCHEMA_VERSION}")]
    Schema { path: PathBuf, found: u32 },
    #[error("store I/O failed at {path}: {source}")]
    Io { path: PathBuf, source: sled::Error },
    #[error("store holds a malformed entry under key {key:?}")]
    Corrupt { key: String },
    #[error("store holds an entry it cannot decode: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Cheap to clone: every clone shares the same database.
#[derive(Clone)]
pub struct Store {
    /// Named in I/O errors: "file too large" alone does not say which disk is full.
    path: Arc<Path>,
    db: sled::Db,
    state: sled::Tree,
    references: sled::Tree,
}

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            // Checkpoints flush explicitly; a background flusher would only make
            // durability timing harder to reason about (and hold the lock after drop).
            .flush_every_ms(None)
            .open()
            .map_err(open_err)?;
        let state = db.open_tree(STATE_TREE).map_err(open_err)?;
        let references = db.open_tree(REFERENCES_TREE).map_err(open_err)?;
        match state.get(SCHEMA_KEY).map_err(open_err)? {
            None => {
                state
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(open_err)?;
                db.flush().map_err(open_err)?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(fixed(&v, SCHEMA_KEY)?);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        path: path.to_path_buf(),
                        found,
                    });
                }
            }
        }
        Ok(Store {
            path: Arc::from(path),
            db,
            state,
            references,
        })
    }

    fn io(&self, source: sled::Error) -> StoreError {
        StoreError::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Loads the last checkpoint.
    pub fn load(&self) -> Result<IngestState, StoreError> {
        let mut events = BTreeMap::new();
        for kv in self.state.scan_prefix(EVENTS) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let parts = split(&k[EVENTS.len()..], 2, &k)?;
            events.insert(
                (parts[0].clone(), parts[1].clone()),
                u64::from_be_bytes(fixed(&v, &k)?),
            );
        }
        let mut labels = BTreeMap::new();
        for kv in self.state.scan_prefix(LABELS) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let parts = split(&k[LABELS.len()..], 1, &k)?;
            labels.insert(parts[0].clone(), u64::from_be_bytes(fixed(&v, &k)?));
        }
        let mut offsets = BTreeMap::new();
        for kv in self.state.scan_prefix(OFFSET) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let rest = &k[OFFSET.len()..];
            let corrupt = || StoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
            };
            if rest.len() < 6 || rest[rest.len() - 5] != 0 {
                return Err(corrupt());
            }
            let (topic, partition) = rest.split_at(rest.len() - 5);
            let topic = String::from_utf8(topic.to_vec()).map_err(|_| corrupt())?;
            let partition = i32::from_be_bytes(fixed(&partition[1..], &k)?);
            offsets.insert((topic, partition), i64::from_be_bytes(fixed(&v, &k)?));
        }
        let mut buckets = BTreeMap::new();
        for kv in self.state.scan_prefix(BUCKET) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let key = parse_bucket_key(&k).ok_or_else(|| corrupt(&k))?;
            buckets.insert(key, serde_json::from_slice(&v)?);
        }
        let mut pending = std::collections::HashMap::new();
        for kv in self.state.scan_prefix(JOIN) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let parts = split(&k[JOIN.len()..], 2, &k)?;
            pending.insert(
                (parts[0].clone(), parts[1].clone()),
                serde_json::from_slice(&v)?,
            );
        }
        Ok(IngestState::restored(
            events, labels, offsets, buckets, pending,
        ))
    }

    /// Writes one checkpoint atomically and makes it durable before returning.
    pub(crate) fn write_checkpoint(&self, changes: &Changes) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for ((model, version), n) in &changes.events {
            batch.insert(key(EVENTS, &[model, version]), &n.to_be_bytes());
        }
        for (model, n) in &changes.labels {
            batch.insert(key(LABELS, &[model]), &n.to_be_bytes());
        }
        for ((topic, partition), offset) in &changes.offsets {
            let mut k = key(OFFSET, &[topic]);
            k.push(0);
            k.extend_from_slice(&partition.to_be_bytes());
            batch.insert(k, &offset.to_be_bytes());
        }
        for (k, bucket) in &changes.buckets {
            batch.insert(bucket_key(k), serde_json::to_vec(bucket)?);
        }
        for k in &changes.removed_buckets {
            batch.remove(bucket_key(k));
        }
        for ((model, id), p) in &changes.pending {
            batch.insert(key(JOIN, &[model, id]), serde_json::to_vec(p)?);
        }
        for (model, id) in &changes.removed_pending {
            batch.remove(key(JOIN, &[model, id]));
        }
        self.state.apply_batch(batch).map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// The alerting stage's state as of its last write.
    pub(crate) fn load_alerting(&self) -> Result<AlertingState, StoreError> {
        let mut out = AlertingState::default();
        for kv in self.state.scan_prefix(ALERT) {
            out.alerts
                .push(serde_json::from_slice(&kv.map_err(|e| self.io(e))?.1)?);
        }
        for kv in self.state.scan_prefix(GROUP) {
            out.groups
                .push(serde_json::from_slice(&kv.map_err(|e| self.io(e))?.1)?);
        }
        for (prefix, map) in [
            (RETRAIN, &mut out.last_retrain),
            (SCHEDULE, &mut out.schedules_checked),
        ] {
            for kv in self.state.scan_prefix(prefix) {
                let (k, v) = kv.map_err(|e| self.io(e))?;
                let model = split(&k[prefix.len()..], 1, &k)?.remove(0);
                map.insert(model, i64::from_be_bytes(fixed(&v, &k)?));
            }
        }
        Ok(out)
    }

    /// Writes one evaluation's changes and new outbox entries in one durable batch.
    pub(crate) fn write_alerting(&self, c: &AlertingChanges) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for a in &c.alerts {
            batch.insert(raw_key(ALERT, &a.fingerprint()), serde_json::to_vec(a)?);
        }
        for fp in &c.removed_alerts {
            batch.remove(raw_key(ALERT, fp));
        }
        for g in &c.groups {
            batch.insert(raw_key(GROUP, &g.key), serde_json::to_vec(g)?);
        }
        for k in &c.removed_groups {
            batch.remove(raw_key(GROUP, k));
        }
        for (model, t) in &c.last_retrain {
            batch.insert(raw_key(RETRAIN, model), &t.to_be_bytes());
        }
        for (model, t) in &c.schedules_checked {
            batch.insert(raw_key(SCHEDULE, model), &t.to_be_bytes());
        }
        for e in &c.outbox {
            batch.insert(raw_key(OUTBOX, &e.id), serde_json::to_vec(e)?);
        }
        self.state.apply_batch(batch).map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Every undelivered outbox entry, oldest first.
    pub fn outbox(&self) -> Result<Vec<crate::notify::OutboxEntry>, StoreError> {
        let mut entries: Vec<crate::notify::OutboxEntry> = self
            .state
            .scan_prefix(OUTBOX)
            .map(|kv| Ok(serde_json::from_slice(&kv.map_err(|e| self.io(e))?.1)?))
            .collect::<Result<_, StoreError>>()?;
        entries.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(entries)
    }

    /// Records a failed attempt (durably).
    pub(crate) fn update_outbox(&self, e: &crate::notify::OutboxEntry) -> Result<(), StoreError> {
        self.state
            .insert(raw_key(OUTBOX, &e.id), serde_json::to_vec(e)?)
            .map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Removes a delivered entry (durably): it is never sent again.
    pub(crate) fn remove_outbox(&self, id: &str) -> Result<(), StoreError> {
        self.state
            .remove(raw_key(OUTBOX, id))
            .map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Stores a new version of a model's reference profile.
    pub(crate) fn put_reference(&self, profile: &ReferenceProfile) -> Result<(), StoreError> {
        let mut k = key(b"", &[&profile.model, &profile.version]);
        k.push(0);
        k.extend_from_slice(&self.db.generate_id().map_err(|e| self.io(e))?.to_be_bytes());
        self.references
            .insert(k, serde_json::to_vec(profile)?)
            .map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Every stored profile, oldest first within each model and version.
    pub(crate) fn references(&self) -> Result<Vec<ReferenceProfile>, StoreError> {
        self.references
            .iter()
            .map(|kv| Ok(read_profile(&kv.map_err(|e| self.io(e))?.1)?))
            .collect()
    }

    /// The newest profile of a model (of one version, or of any version).
    pub(crate) fn latest_reference(
        &self,
        model: &str,
        version: Option<&str>,
    ) -> Result<Option<ReferenceProfile>, StoreError> {
        let model = model.to_string();
        let mut prefix = key(b"", &[&model]);
        prefix.push(0);
        if let Some(v) = version {
            prefix.extend_from_slice(v.as_bytes());
            prefix.push(0);
        }
        let mut newest: Option<(u64, ReferenceProfile)> = None;
        for kv in self.references.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let seq = u64::from_be_bytes(fixed(&k[k.len().saturating_sub(8)..], &k)?);
            if newest.as_ref().is_none_or(|(s, _)| seq > *s) {
                newest = Some((seq, read_profile(&v)?));
            }
        }
        Ok(newest.map(|(_, p)| p))
    }

    pub(crate) fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(|e| self.io(e))
    }
}

fn raw_key(prefix: &[u8], rest: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(rest.as_bytes());
    k
}

fn bucket_key(k: &BucketKey) -> Vec<u8> {
    let mut out = key(BUCKET, &[&k.model, &k.version]);
    out.push(0);
    out.push(k.tier.code());
    out.extend_from_slice(&((k.start_ms as u64) ^ (1 << 63)).to_be_bytes());
    out
}

fn parse_bucket_key(k: &[u8]) -> Option<BucketKey> {
    let rest = k.strip_prefix(BUCKET)?;
    // Fixed tail: \0, tier, 8 bytes of start.
    if rest.len() < 11 || rest[rest.len() - 10] != 0 {
        return None;
    }
    let (names, tail) = rest.split_at(rest.len() - 10);
    let tier = crate::window::Tier::from_code(tail[1])?;
    let start = u64::from_be_bytes(tail[2..].try_into().ok()?) ^ (1 << 63);
    let mut parts = names.split(|&b| b == 0);
    let model = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let version = String::from_utf8(parts.next()?.to_vec()).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(BucketKey {
        model,
        version,
        tier,
        start_ms: start as i64,
    })
}

fn read_profile(bytes: &[u8]) -> Result<ReferenceProfile, serde_json::Error> {
    let mut p: ReferenceProfile = serde_json::from_slice(bytes)?;
    for f in &mut p.features {
        if let FeatureKind::Categorical { bins, .. } = &mut f.kind {
            *bins = std::mem::replace(bins, CategoryBins::new(Vec::new())).reindexed();
        }
    }
    Ok(p)
}

fn key(prefix: &[u8], parts: &[&String]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

fn split(rest: &[u8], n: usize, whole: &[u8]) -> Result<Vec<String>, StoreError> {
    let parts: Vec<String> = rest
        .split(|&b| b == 0)
        .map(|p| String::from_utf8(p.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt(whole))?;
    if parts.len() != n {
        return Err(corrupt(whole));
    }
    Ok(parts)
}

fn fixed<const N: usize>(v: &[u8], key: &[u8]) -> Result<[u8; N], StoreError> {
    v.try_into().map_err(|_| corrupt(key))
}

fn corrupt(key: &[u8]) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{PredictionRecord, Record};

    #[test]
    fn checkpoint_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = crate::window::ProfileSet::default();
        let settings = crate::window::WindowSettings::default();
        let labels = crate::join::LabelSettings::default();
        let ctx = crate::state::ApplyContext {
            profiles: &profiles,
            windows: &settings,
            labels: &labels,
            now_ms: 1_000_000,
        };
        let mut state = IngestState::default();
        for (m, v) in [("a", "v1"), ("a", "v1"), ("b", "v9")] {
            state.apply(
                &Record::Prediction(PredictionRecord {
                    model: m.into(),
                    version: v.into(),
                    id: None,
                    ts_ms: 0,
                    features: vec![],
                    prediction: None,
                    latency_ms: Some(3.0),
                    segment: vec![],
                }),
                &ctx,
            );
        }
        state.advance("topic.x", 2, 1234);
        state.advance("topic.x", -1, 5);
        {
            let store = Store::open(dir.path()).unwrap();
            store.write_checkpoint(&state.changes()).unwrap();
        }
        state.mark_clean();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), state);
    }
}
