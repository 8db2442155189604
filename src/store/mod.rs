//! The store: every table and key layout in one place, on [redb](https://docs.rs/redb)
//! (`state.redb` in the `[storage] path` directory).
//!
//! One table, `state`, holds the counters, the consumed offsets, the buckets and the
//! label join, so that a checkpoint is a single write transaction, durable (fsynced)
//! when it commits: after a crash the state and the offsets it reflects are always from
//! the same checkpoint.
//!
//! Why redb and not sled (schema 1's engine): with the join on disk, sled 0.34 held
//! ~1.3 kB of memory per key whatever its `cache_capacity` (1M join entries: 1.35 GB
//! RSS, 20 s to write), redb keeps to its cache (10M entries: 188 MB RSS, 34 s;
//! docs/benchmarks.md, "Store engines").
//!
//! Key layout (`\0`-separated; names never contain control characters, see
//! [`crate::event`]):
//!
//! | key                                   | value                   |
//! |---------------------------------------|-------------------------|
//! | `meta\0schema`                        | u32 BE schema version   |
//! | `meta\0joins`                         | u64 BE join entries waiting |
//! | `meta\0reference`                     | u64 BE last reference sequence |
//! | `meta\0instance`                      | this instance's id (cluster mode) |
//! | `events\0{model}\0{version}`          | u64 BE accepted records |
//! | `labels\0{model}`                     | u64 BE accepted labels  |
//! | `offset\0{topic}\0{partition i32 BE}` | i64 BE next offset      |
//! | `bucket\0{model}\0{version}\0{tier u8}{start}` | binary [`Bucket`](crate::window::Bucket) |
//! | `join\0{model}\0{id}`                  | binary [`crate::join::Pending`] |
//! | `join\0{model}\0{id}\x01shadow\x01{deployment}` | binary [`crate::join::Pending::Pair`] (`join::pair_key`): a shadow pair |
//! | `expiry\0{expires}{model}\0{id}`       | empty: the join entries in TTL order |
//! | `alert\0{fingerprint}`                | JSON [`crate::rules::Alert`] |
//! | `group\0{model}`                      | JSON [`crate::notify::GroupState`] |
//! | `retrain\0{model}`                    | i64 BE ms of the last retraining request |
//! | `schedule\0{model}`                   | i64 BE ms up to which schedules were checked |
//! | `deployment\0{model}\0{name}`          | JSON [`crate::evaluate::deployment::ReachedVerdict`] |
//! | `outbox\0{id}`                        | JSON [`crate::notify::OutboxEntry`] |
//! | `silence\0{id}`                       | JSON [`crate::notify::silence::Silence`] |
//!
//! The ingest checkpoint writes `meta\0joins` to `expiry`; the alerting stage writes
//! `alert`, `group`, `retrain`, `schedule`, `deployment` and new `outbox` entries in one transaction
//! of its own per evaluation, and the outbox sender removes `outbox` entries once they
//! are delivered; `silence` entries are written when a silence is created or expired
//! through the API, and removed by the alerting stage once long expired. The writers
//! never touch the same keys.
//!
//! In cluster mode ([`Replica`]) every key except `meta`, `silence` and the outbox's
//! Alertmanager pushes belongs to a model (or, for `offset`, to an input partition;
//! [`KeyOwner`]), and every write of such a key is mirrored to the changelog topic of
//! the partition that owns it before it is written here; this store then holds only
//! the partitions this instance owns.
//!
//! (`start` and `expires` are ms since the epoch, i64 with the sign bit flipped,
//! big-endian, so keys sort by time.)
//!
//! "Binary" is [postcard](https://docs.rs/postcard) of the type's serde form: varint
//! integers, count vectors sparse ([`crate::stats::sparse`]). The join is never loaded
//! whole: entries are read by key when the other half arrives
//! ([`crate::join::StoredJoins`]), and expired by walking `expiry` from its start.
//!
//! Table `references` holds reference profiles as JSON, one per import, under
//! `{model}\0{version}\0{sequence u64 BE}` so that the last key of a prefix is the
//! newest profile.
//!
//! # Schema versions
//!
//! 1: sled, buckets and join entries as JSON, no expiry index. 2 (this one): redb,
//! binary values, `expiry`, `meta\0joins`. [`Store::open`] upgrades a schema-1 store
//! found in the directory ([`upgrade`]) and refuses a version it does not know: a
//! newer driftd's store is not read by an older one.
//!
//! Within schema 2, a value type may grow a field at its end: a bucket written before
//! `Bucket::shadow` existed is read by `upgrade::bucket_from_binary` with an empty
//! one, and `Pending` grows variants only at its end, so older entries keep their
//! variant numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::evaluate::deployment::ReachedVerdict;
use crate::join::{JoinKey, JoinReadError, Pending};
use crate::reference::{FeatureKind, ReferenceProfile};
use crate::state::{Changes, IngestState};
use crate::stats::histogram::CategoryBins;
use redb::ReadableDatabase;

mod keys;
mod upgrade;

pub use keys::KeyOwner;

use keys::{
    bucket_key, corrupt, expiry_key, fixed, key, parse_bucket_key, parse_expiry_key, raw_key, split,
};

type Table = redb::TableDefinition<'static, &'static [u8], &'static [u8]>;
type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;
/// A key and its value, read out of a transaction.
type Entry = (Vec<u8>, Vec<u8>);

const SCHEMA_VERSION: u32 = 2;
/// The database file in the `[storage] path` directory.
const FILE: &str = "state.redb";
const STATE: Table = redb::TableDefinition::new("state");
const REFERENCES: Table = redb::TableDefinition::new("references");
const SCHEMA_KEY: &[u8] = b"meta\0schema";
const REFERENCE_SEQ_KEY: &[u8] = b"meta\0reference";
const WAITING_KEY: &[u8] = b"meta\0joins";
const INSTANCE_KEY: &[u8] = b"meta\0instance";
const EXPIRY: &[u8] = b"expiry\0";
const EVENTS: &[u8] = b"events\0";
const LABELS: &[u8] = b"labels\0";
const OFFSET: &[u8] = b"offset\0";
const BUCKET: &[u8] = b"bucket\0";
const JOIN: &[u8] = b"join\0";
const ALERT: &[u8] = b"alert\0";
const GROUP: &[u8] = b"group\0";
const RETRAIN: &[u8] = b"retrain\0";
const SCHEDULE: &[u8] = b"schedule\0";
const DEPLOYMENT: &[u8] = b"deployment\0";
const OUTBOX: &[u8] = b"outbox\0";
const SILENCE: &[u8] = b"silence\0";

/// The alerting stage's persisted state.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct AlertingState {
    pub alerts: Vec<crate::rules::Alert>,
    pub groups: Vec<crate::notify::GroupState>,
    pub last_retrain: BTreeMap<String, i64>,
    pub schedules_checked: BTreeMap<String, i64>,
    /// The last verdict each deployment reached, by (model, deployment name).
    pub verdicts: BTreeMap<(String, String), ReachedVerdict>,
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
    pub verdicts: Vec<((String, String), ReachedVerdict)>,
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
            && self.verdicts.is_empty()
            && self.outbox.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source} (is another driftd using it?)")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error("cannot create the store directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "store at {path} has schema version {found}, this driftd reads versions 1 to \
         {SCHEMA_VERSION} (a store written by a newer driftd; run that version, or start \
         from an empty [storage] path)"
    )]
    Schema { path: PathBuf, found: u32 },
    #[error("store I/O failed at {path}: {source}")]
    Io { path: PathBuf, source: redb::Error },
    #[error("cannot upgrade the schema-1 store at {path}: {detail}")]
    Upgrade { path: PathBuf, detail: String },
    #[error("store holds a malformed entry under key {key:?}")]
    Corrupt { key: String },
    #[error("store holds an entry it cannot decode: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("store holds a binary entry it cannot decode: {0}")]
    Binary(#[from] postcard::Error),
    #[error(transparent)]
    BucketRead(#[from] crate::window::BucketReadError),
    #[error("changelog: {0}")]
    Replica(String),
}

/// How the store is opened: its page cache is the part of `[storage] memory_budget`
/// that the database holds (docs/resources.md).
#[derive(Debug, Clone, Copy)]
pub struct StoreSettings {
    pub cache_bytes: u64,
}

impl StoreSettings {
    /// The store's page cache as a share of `[storage] memory_budget`; the windows, the
    /// join's changes between checkpoints and Kafka's buffers need the rest
    /// (docs/resources.md).
    pub const CACHE_SHARE: f64 = 0.2;

    pub fn from_budget(memory_budget: u64) -> StoreSettings {
        StoreSettings {
            cache_bytes: (memory_budget as f64 * Self::CACHE_SHARE) as u64,
        }
    }
}

impl Default for StoreSettings {
    /// What the CLI's short-lived commands use: they read little, and a daemon may be
    /// using the memory.
    fn default() -> Self {
        StoreSettings {
            cache_bytes: 64 << 20,
        }
    }
}

/// Every write of one batch, applied in one transaction.
#[derive(Default)]
struct Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl Batch {
    fn insert(&mut self, k: impl Into<Vec<u8>>, v: impl AsRef<[u8]>) {
        self.0.push((k.into(), Some(v.as_ref().to_vec())));
    }
    fn remove(&mut self, k: impl Into<Vec<u8>>) {
        self.0.push((k.into(), None));
    }
}

/// One change of a replicated key, as a write hands it to the [`Replica`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicatedChange<'a> {
    pub key: &'a [u8],
    /// `None`: the key was removed.
    pub value: Option<&'a [u8]>,
    pub owner: KeyOwner,
}

impl ReplicatedChange<'_> {
    /// (topic, partition, next offset) when this is a consumed offset.
    pub fn offset(&self) -> Option<(String, i32, i64)> {
        keys::parse_offset(self.key, self.value?)
    }
}

/// Where cluster mode mirrors every write (the changelog topic, `kafka::cluster`): a
/// write's changes go there first, and only when `replicate` succeeds are they written
/// to this store. A crash between the two leaves the replica ahead, and the next
/// restore reads it back.
pub trait Replica: Send + Sync {
    fn replicate(&self, changes: &[ReplicatedChange<'_>]) -> Result<(), String>;
}

/// Cheap to clone: every clone shares the same database.
#[derive(Clone)]
pub struct Store {
    /// Named in I/O errors: "file too large" alone does not say which disk is full.
    path: Arc<Path>,
    db: Arc<redb::Database>,
    /// Set once in cluster mode.
    replica: Arc<std::sync::OnceLock<Arc<dyn Replica>>>,
}

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreSettings::default())
    }

    /// Opens (or creates) the store in the directory `path`, upgrading a schema-1 (sled)
    /// store found there ([`upgrade`]).
    pub(crate) fn open_with(path: &Path, settings: StoreSettings) -> Result<Store, StoreError> {
        std::fs::create_dir_all(path).map_err(|source| StoreError::Directory {
            path: path.to_path_buf(),
            source,
        })?;
        let db = redb::Database::builder()
            .set_cache_size(usize::try_from(settings.cache_bytes).unwrap_or(usize::MAX))
            .create(path.join(FILE))
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let store = Store {
            path: Arc::from(path),
            db: Arc::new(db),
            replica: Arc::default(),
        };
        match store.read(STATE, SCHEMA_KEY)? {
            Some(v) => {
                let found = u32::from_be_bytes(fixed(&v, SCHEMA_KEY)?);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        path: path.to_path_buf(),
                        found,
                    });
                }
            }
            // New, or a crash during an upgrade (which writes the schema last).
            None if upgrade::has_schema_1(path) => upgrade::from_schema_1(&store)?,
            None => {
                let mut batch = Batch::default();
                batch.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes());
                store.apply(STATE, batch)?;
            }
        }
        Ok(store)
    }

    fn io(&self, source: impl Into<redb::Error>) -> StoreError {
        StoreError::Io {
            path: self.path.to_path_buf(),
            source: source.into(),
        }
    }

    /// Applies a batch in one durable transaction (redb fsyncs on commit): after a
    /// crash, all of it or none is there.
    fn apply(&self, table: Table, batch: Batch) -> Result<(), StoreError> {
        let replica = match redb::TableHandle::name(&table) == redb::TableHandle::name(&STATE) {
            true => self.replica.get(),
            false => None,
        };
        self.apply_to(table, batch, replica.map(|r| &**r))
    }

    /// As [`Store::apply`], handing the replicated keys' changes to `replica` before the
    /// transaction commits (a failure aborts it).
    fn apply_to(
        &self,
        table: Table,
        batch: Batch,
        replica: Option<&dyn Replica>,
    ) -> Result<(), StoreError> {
        self.write(table, batch, replica, redb::Durability::Immediate)
    }

    fn write(
        &self,
        table: Table,
        batch: Batch,
        replica: Option<&dyn Replica>,
        durability: redb::Durability,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.io(e))?;
        txn.set_durability(durability)
            .map_err(|e| self.io(redb::Error::from(e)))?;
        {
            let mut t = txn.open_table(table).map_err(|e| self.io(e))?;
            if let Some(replica) = replica {
                let mut changes = Vec::new();
                for (k, v) in &batch.0 {
                    let owner = match v {
                        Some(v) => keys::owner(k, Some(v)),
                        // A removed alert's or outbox entry's owner is in its old value.
                        None => {
                            let old = redb::ReadableTable::get(&t, k.as_slice())
                                .map_err(|e| self.io(e))?;
                            keys::owner(k, old.as_ref().map(|g| g.value()))
                        }
                    };
                    if owner != KeyOwner::Local {
                        changes.push(ReplicatedChange {
                            key: k,
                            value: v.as_deref(),
                            owner,
                        });
                    }
                }
                if !changes.is_empty() {
                    replica.replicate(&changes).map_err(StoreError::Replica)?;
                }
            }
            for (k, v) in batch.0 {
                match v {
                    Some(v) => t.insert(k.as_slice(), v.as_slice()).map(drop),
                    None => t.remove(k.as_slice()).map(drop),
                }
                .map_err(|e| self.io(e))?;
            }
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// `table` in a read transaction; `None` when it was never created.
    fn open_read(
        &self,
        txn: &redb::ReadTransaction,
        table: Table,
    ) -> Result<Option<ReadTable>, StoreError> {
        match txn.open_table(table) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn read(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let Some(t) = self.open_read(&txn, table)? else {
            return Ok(None);
        };
        Ok(t.get(key)
            .map_err(|e| self.io(e))?
            .map(|v| v.value().to_vec()))
    }

    /// Every entry whose key starts with `prefix`, in key order, up to `limit`, for as
    /// long as `keep` says so.
    fn scan_while(
        &self,
        table: Table,
        prefix: &[u8],
        limit: usize,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Result<Vec<Entry>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let Some(t) = self.open_read(&txn, table)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for kv in t.range(prefix..).map_err(|e| self.io(e))? {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let k = k.value();
            if !k.starts_with(prefix) || out.len() >= limit || !keep(k) {
                break;
            }
            out.push((k.to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The keys that start with `prefix`, in key order (values are not copied).
    fn scan_keys(&self, table: Table, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let Some(t) = self.open_read(&txn, table)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for kv in t.range(prefix..).map_err(|e| self.io(e))? {
            let (k, _) = kv.map_err(|e| self.io(e))?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            out.push(k.to_vec());
        }
        Ok(out)
    }

    /// How many keys start with `prefix` (none is copied).
    fn count_keys(&self, table: Table, prefix: &[u8]) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let Some(t) = self.open_read(&txn, table)? else {
            return Ok(0);
        };
        let mut n = 0;
        for kv in t.range(prefix..).map_err(|e| self.io(e))? {
            let (k, _) = kv.map_err(|e| self.io(e))?;
            if !k.value().starts_with(prefix) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        self.scan_while(table, prefix, usize::MAX, |_| true)
    }

    /// Loads the last checkpoint: counts, offsets and the index of the buckets (the
    /// buckets and the join stay on disk).
    pub fn load(&self) -> Result<IngestState, StoreError> {
        let mut events = BTreeMap::new();
        for (k, v) in self.scan(STATE, EVENTS)? {
            let parts = split(&k[EVENTS.len()..], 2, &k)?;
            events.insert(
                (parts[0].clone(), parts[1].clone()),
                u64::from_be_bytes(fixed(&v, &k)?),
            );
        }
        let mut labels = BTreeMap::new();
        for (k, v) in self.scan(STATE, LABELS)? {
            let parts = split(&k[LABELS.len()..], 1, &k)?;
            labels.insert(parts[0].clone(), u64::from_be_bytes(fixed(&v, &k)?));
        }
        let mut offsets = BTreeMap::new();
        for (k, v) in self.scan(STATE, OFFSET)? {
            let rest = &k[OFFSET.len()..];
            if rest.len() < 6 || rest[rest.len() - 5] != 0 {
                return Err(corrupt(&k));
            }
            let (topic, partition) = rest.split_at(rest.len() - 5);
            let topic = String::from_utf8(topic.to_vec()).map_err(|_| corrupt(&k))?;
            let partition = i32::from_be_bytes(fixed(&partition[1..], &k)?);
            offsets.insert((topic, partition), i64::from_be_bytes(fixed(&v, &k)?));
        }
        let mut keys = Vec::new();
        for k in self.scan_keys(STATE, BUCKET)? {
            keys.push(parse_bucket_key(&k).ok_or_else(|| corrupt(&k))?);
        }
        let windows = crate::window::WindowState::restored(keys, self)?;
        // The join stays on disk: only its size is read.
        let waiting = match self.read(STATE, WAITING_KEY)? {
            Some(v) => u64::from_be_bytes(fixed(&v, WAITING_KEY)?),
            None => 0,
        };
        Ok(IngestState::restored(
            events, labels, offsets, windows, waiting,
        ))
    }

    /// Writes one checkpoint atomically and makes it durable before returning.
    pub(crate) fn write_checkpoint(&self, changes: &Changes) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for ((model, version), n) in &changes.events {
            batch.insert(key(EVENTS, &[model, version]), n.to_be_bytes());
        }
        for (model, n) in &changes.labels {
            batch.insert(key(LABELS, &[model]), n.to_be_bytes());
        }
        for ((topic, partition), offset) in &changes.offsets {
            let mut k = key(OFFSET, &[topic]);
            k.push(0);
            k.extend_from_slice(&partition.to_be_bytes());
            batch.insert(k, offset.to_be_bytes());
        }
        for (k, bucket) in &changes.buckets {
            batch.insert(bucket_key(k), postcard::to_stdvec(bucket)?);
        }
        for k in &changes.removed_buckets {
            batch.remove(bucket_key(k));
        }
        for c in &changes.joins {
            let k = key(JOIN, &[&c.key.0, &c.key.1]);
            let expires = c.now.as_ref().map(Pending::expires_ms);
            if let Some(stored) = c.stored_expires_ms {
                if expires != Some(stored) {
                    batch.remove(expiry_key(stored, &c.key));
                }
            }
            match &c.now {
                Some(p) => {
                    batch.insert(k, postcard::to_stdvec(p)?);
                    batch.insert(expiry_key(p.expires_ms(), &c.key), []);
                }
                None if c.stored_expires_ms.is_some() => batch.remove(k),
                // Created and removed between two checkpoints: never written.
                None => {}
            }
        }
        if let Some(n) = changes.waiting {
            batch.insert(WAITING_KEY, n.to_be_bytes());
        }
        self.apply(STATE, batch)
    }

    /// The alerting stage's state as of its last write.
    pub(crate) fn load_alerting(&self) -> Result<AlertingState, StoreError> {
        let mut out = AlertingState::default();
        for (_, v) in self.scan(STATE, ALERT)? {
            out.alerts.push(serde_json::from_slice(&v)?);
        }
        for (_, v) in self.scan(STATE, GROUP)? {
            out.groups.push(serde_json::from_slice(&v)?);
        }
        for (prefix, map) in [
            (RETRAIN, &mut out.last_retrain),
            (SCHEDULE, &mut out.schedules_checked),
        ] {
            for (k, v) in self.scan(STATE, prefix)? {
                let model = split(&k[prefix.len()..], 1, &k)?.remove(0);
                map.insert(model, i64::from_be_bytes(fixed(&v, &k)?));
            }
        }
        for (k, v) in self.scan(STATE, DEPLOYMENT)? {
            let mut parts = split(&k[DEPLOYMENT.len()..], 2, &k)?;
            let name = parts.remove(1);
            out.verdicts
                .insert((parts.remove(0), name), serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// Writes one evaluation's changes and new outbox entries in one durable batch.
    pub(crate) fn write_alerting(&self, c: &AlertingChanges) -> Result<(), StoreError> {
        let mut batch = Batch::default();
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
            batch.insert(raw_key(RETRAIN, model), t.to_be_bytes());
        }
        for (model, t) in &c.schedules_checked {
            batch.insert(raw_key(SCHEDULE, model), t.to_be_bytes());
        }
        for ((model, name), verdict) in &c.verdicts {
            batch.insert(
                key(DEPLOYMENT, &[model, name]),
                serde_json::to_vec(verdict)?,
            );
        }
        for e in &c.outbox {
            batch.insert(raw_key(OUTBOX, &e.id), serde_json::to_vec(e)?);
        }
        self.apply(STATE, batch)
    }

    /// Every stored silence (active, pending or expired), by id.
    pub(crate) fn silences(&self) -> Result<Vec<crate::notify::silence::Silence>, StoreError> {
        self.scan(STATE, SILENCE)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(StoreError::from))
            .collect()
    }

    /// Creates or updates a silence (durably).
    pub(crate) fn put_silence(
        &self,
        s: &crate::notify::silence::Silence,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.insert(raw_key(SILENCE, &s.id), serde_json::to_vec(s)?);
        self.apply(STATE, batch)
    }

    /// Deletes a silence (durably).
    pub(crate) fn remove_silence(&self, id: &str) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.remove(raw_key(SILENCE, id));
        self.apply(STATE, batch)
    }

    /// Every undelivered outbox entry, oldest first.
    pub fn outbox(&self) -> Result<Vec<crate::notify::OutboxEntry>, StoreError> {
        let mut entries: Vec<crate::notify::OutboxEntry> = self
            .scan(STATE, OUTBOX)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v))
            .collect::<Result<_, _>>()?;
        entries.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(entries)
    }

    /// Records a failed attempt (durably).
    pub(crate) fn update_outbox(&self, e: &crate::notify::OutboxEntry) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.insert(raw_key(OUTBOX, &e.id), serde_json::to_vec(e)?);
        self.apply(STATE, batch)
    }

    /// Removes a delivered entry (durably): it is never sent again.
    pub(crate) fn remove_outbox(&self, id: &str) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.remove(raw_key(OUTBOX, id));
        self.apply(STATE, batch)
    }

    /// Stores a new version of a model's reference profile.
    pub(crate) fn put_reference(&self, profile: &ReferenceProfile) -> Result<(), StoreError> {
        let seq = match self.read(STATE, REFERENCE_SEQ_KEY)? {
            Some(v) => u64::from_be_bytes(fixed(&v, REFERENCE_SEQ_KEY)?),
            None => 0,
        } + 1;
        let mut k = key(b"", &[&profile.model, &profile.version]);
        k.push(0);
        k.extend_from_slice(&seq.to_be_bytes());
        let mut profiles = Batch::default();
        profiles.insert(k, serde_json::to_vec(profile)?);
        // One writer at a time (the CLI, with the daemon stopped): two transactions.
        self.apply(REFERENCES, profiles)?;
        let mut meta = Batch::default();
        meta.insert(REFERENCE_SEQ_KEY, seq.to_be_bytes());
        self.apply(STATE, meta)
    }

    /// Every stored profile, oldest first within each model and version.
    pub(crate) fn references(&self) -> Result<Vec<ReferenceProfile>, StoreError> {
        // Parsed one by one as read: a fleet's profiles are ~0.5 MB of JSON each, and
        // holding all the text next to the parsed profiles doubled start-up memory.
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let Some(t) = self.open_read(&txn, REFERENCES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for kv in redb::ReadableTable::iter(&t).map_err(|e| self.io(e))? {
            let (_, v) = kv.map_err(|e| self.io(e))?;
            out.push(read_profile(v.value())?);
        }
        Ok(out)
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
        let mut newest: Option<(u64, Vec<u8>)> = None;
        for (k, v) in self.scan(REFERENCES, &prefix)? {
            let seq = u64::from_be_bytes(fixed(&k[k.len().saturating_sub(8)..], &k)?);
            if newest.as_ref().is_none_or(|(s, _)| seq > *s) {
                newest = Some((seq, v));
            }
        }
        newest.map(|(_, v)| Ok(read_profile(&v)?)).transpose()
    }

    /// Cluster mode: every later write of a replicated key goes to `replica` first.
    pub(crate) fn replicate_to(&self, replica: Arc<dyn Replica>) {
        if self.replica.set(replica).is_err() {
            tracing::warn!("the store already has a replica; keeping the first");
        }
    }

    /// Removes every replicated key from this store alone (not from the replica): what
    /// an instance does when the partitions that own them leave it. Returns how many.
    pub(crate) fn wipe_replicated(&self) -> Result<usize, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let mut batch = Batch::default();
        if let Some(t) = self.open_read(&txn, STATE)? {
            for kv in redb::ReadableTable::iter(&t).map_err(|e| self.io(e))? {
                let (k, v) = kv.map_err(|e| self.io(e))?;
                if keys::owner(k.value(), Some(v.value())) != KeyOwner::Local {
                    batch.remove(k.value().to_vec());
                }
            }
        }
        drop(txn);
        let n = batch.0.len();
        self.apply_to(STATE, batch, None)?;
        Ok(n)
    }

    /// Writes changes read back from the replica, in the order read, to this store
    /// alone. Not fsynced: [`Store::recount_joins`], which ends every restore, is (and a
    /// crash before it restores again from the start).
    pub(crate) fn restore(
        &self,
        changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        self.write(STATE, Batch(changes), None, redb::Durability::None)
    }

    /// Sets the join's size (this store's own count, not replicated) from the entries
    /// stored, after a restore or a wipe.
    pub(crate) fn recount_joins(&self) -> Result<(), StoreError> {
        let waiting = self.count_keys(STATE, JOIN)?;
        let mut meta = Batch::default();
        meta.insert(WAITING_KEY, waiting.to_be_bytes());
        self.apply_to(STATE, meta, None)
    }

    /// This instance's id, generated once and kept in the store (cluster mode's
    /// default transactional id: stable across restarts, so a restarted instance
    /// fences its own previous incarnation).
    pub(crate) fn instance_id(&self) -> Result<String, StoreError> {
        if let Some(v) = self.read(STATE, INSTANCE_KEY)? {
            return String::from_utf8(v).map_err(|_| corrupt(INSTANCE_KEY));
        }
        let now = crate::base::time::unix_now_ms().to_string();
        let id = crate::base::id::stable_id(&[
            &self.path.display().to_string(),
            &now,
            &std::process::id().to_string(),
        ])[..16]
            .to_string();
        let mut batch = Batch::default();
        batch.insert(INSTANCE_KEY, id.as_bytes());
        self.apply_to(STATE, batch, None)?;
        Ok(id)
    }

    pub(crate) fn size_on_disk(&self) -> Result<u64, StoreError> {
        std::fs::metadata(self.path.join(FILE))
            .map(|m| m.len())
            .map_err(|e| self.io(redb::StorageError::Io(e)))
    }
}

impl crate::window::StoredBuckets for Store {
    fn bucket(
        &self,
        key: &crate::window::BucketKey,
    ) -> Result<Option<crate::window::Bucket>, crate::window::BucketReadError> {
        let fail = |e: String| {
            crate::window::BucketReadError(format!(
                "{}: bucket of ({}, {}) at {}: {e}",
                self.path.display(),
                key.model,
                key.version,
                key.start_ms
            ))
        };
        match self.read(STATE, &bucket_key(key)) {
            Ok(Some(v)) => upgrade::bucket_from_binary(&v)
                .map(Some)
                .map_err(|e| fail(e.to_string())),
            Ok(None) => Ok(None),
            Err(e) => Err(fail(e.to_string())),
        }
    }
}

impl crate::join::StoredJoins for Store {
    fn get(&self, (model, id): &JoinKey) -> Result<Option<Pending>, JoinReadError> {
        match self.read(STATE, &key(JOIN, &[model, id])) {
            Ok(Some(v)) => postcard::from_bytes(&v).map(Some).map_err(|e| {
                JoinReadError(format!(
                    "{}: entry of ({model}, {id}): {e}",
                    self.path.display()
                ))
            }),
            Ok(None) => Ok(None),
            Err(e) => Err(JoinReadError(e.to_string())),
        }
    }

    fn expired(&self, now_ms: i64, limit: usize) -> Result<Vec<(JoinKey, i64)>, JoinReadError> {
        let mut out = Vec::new();
        let entries = self
            .scan_while(STATE, EXPIRY, limit, |k| {
                parse_expiry_key(k).is_none_or(|(expires_ms, _)| expires_ms <= now_ms)
            })
            .map_err(|e| JoinReadError(e.to_string()))?;
        for (k, _) in entries {
            let (expires_ms, join_key) = parse_expiry_key(&k).ok_or_else(|| {
                JoinReadError(format!(
                    "malformed expiry entry {:?}",
                    String::from_utf8_lossy(&k)
                ))
            })?;
            out.push((join_key, expires_ms));
        }
        Ok(out)
    }
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
            joins: &crate::join::NoStoredJoins,
            buckets: &crate::window::NoStoredBuckets,
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
        state.mark_clean(&settings, &Default::default(), 1_000_000);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), state);
    }

    type RecordedChange = (Vec<u8>, Option<Vec<u8>>, KeyOwner);

    /// Records what a store hands its replica; fails while `refuse` is set.
    #[derive(Default)]
    struct Recorded {
        changes: std::sync::Mutex<Vec<RecordedChange>>,
        refuse: std::sync::atomic::AtomicBool,
    }

    impl Replica for Recorded {
        fn replicate(&self, changes: &[ReplicatedChange<'_>]) -> Result<(), String> {
            if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("refused".into());
            }
            let mut out = self.changes.lock().unwrap();
            for c in changes {
                out.push((c.key.to_vec(), c.value.map(<[u8]>::to_vec), c.owner.clone()));
            }
            Ok(())
        }
    }

    #[test]
    fn replicated_writes_reach_the_replica_first_and_restore_from_it() {
        use crate::notify::{Action, OutboxEntry};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let replica = Arc::new(Recorded::default());
        store.replicate_to(replica.clone());
        let mut state = IngestState::default();
        state.advance("preds", 7, 42);
        store.write_checkpoint(&state.changes()).unwrap();
        let hook = |id: &str| Action::Webhook {
            url: format!("http://x/{id}"),
            payload: "{}".into(),
        };
        let about_churn = OutboxEntry::new("e1".into(), hook("e1"), 1).about(Some("churn"));
        let rolled_back = ReachedVerdict {
            verdict: "rollback".into(),
            candidate_versions: vec!["v2".into()],
            at_ms: 7,
        };
        let push = OutboxEntry::new("am".into(), hook("am"), 1);
        store
            .write_alerting(&AlertingChanges {
                last_retrain: vec![("churn".into(), 5)],
                verdicts: vec![(("churn".into(), "v2-canary".into()), rolled_back.clone())],
                outbox: vec![about_churn.clone(), push.clone()],
                ..Default::default()
            })
            .unwrap();
        store.remove_outbox("e1").unwrap();
        let silence_key = raw_key(SILENCE, "s1");
        let mut b = Batch::default();
        b.insert(silence_key.clone(), b"{}");
        store.apply(STATE, b).unwrap();

        let owners: Vec<(Vec<u8>, bool, KeyOwner)> = replica
            .changes
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v, o)| (k.clone(), v.is_some(), o.clone()))
            .collect();
        let mut offset_key = key(OFFSET, &[&"preds".to_string()]);
        offset_key.push(0);
        offset_key.extend_from_slice(&7i32.to_be_bytes());
        let churn = || KeyOwner::Model("churn".into());
        assert_eq!(
            owners,
            vec![
                (offset_key, true, KeyOwner::Partition(7)),
                (raw_key(RETRAIN, "churn"), true, churn()),
                (raw_key(DEPLOYMENT, "churn\0v2-canary"), true, churn()),
                (raw_key(OUTBOX, "e1"), true, churn()),
                // A removal's owner comes from the value it removes.
                (raw_key(OUTBOX, "e1"), false, churn()),
            ],
            "the Alertmanager push and the silence are this instance's alone"
        );

        // A refused write changes nothing here either.
        replica
            .refuse
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut refused = IngestState::default();
        refused.advance("preds", 7, 99);
        assert!(matches!(
            store.write_checkpoint(&refused.changes()),
            Err(StoreError::Replica(_))
        ));
        assert_eq!(store.load().unwrap().offset("preds", 7), Some(42));

        // Wiped: only local keys stay; restored from the replica: as before.
        assert_eq!(
            store.load_alerting().unwrap().verdicts[&("churn".into(), "v2-canary".into())],
            rolled_back
        );
        assert_eq!(store.wipe_replicated().unwrap(), 3);
        assert_eq!(store.load().unwrap().offset("preds", 7), None);
        assert_eq!(store.outbox().unwrap(), vec![push.clone()]);
        assert!(store.read(STATE, &silence_key).unwrap().is_some());
        let log: Vec<_> = replica
            .changes
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        store.restore(log).unwrap();
        assert_eq!(store.load().unwrap().offset("preds", 7), Some(42));
        assert_eq!(store.load_alerting().unwrap().last_retrain["churn"], 5);
        assert_eq!(store.outbox().unwrap(), vec![push]);
    }

    #[test]
    fn every_key_has_the_owner_its_model_or_partition_says() {
        let m = |s: &str| KeyOwner::Model(s.into());
        let bucket = keys::bucket_key(&crate::window::BucketKey {
            model: "fraud".into(),
            version: "v2".into(),
            tier: crate::window::Tier::from_code(0).unwrap(),
            start_ms: 60_000,
        });
        let expiry = keys::expiry_key(9, &("fraud".into(), "id-1".into()));
        let alert = serde_json::json!({"labels": {"model": "churn", "alertname": "X"}});
        let group =
            crate::notify::group::group_key(&[("model".to_string(), "ltv".to_string())].into());
        for (k, v, want) in [
            (key(EVENTS, &[&"a".into(), &"v1".into()]), None, m("a")),
            (key(LABELS, &[&"a".into()]), None, m("a")),
            (bucket, None, m("fraud")),
            (key(JOIN, &[&"b".into(), &"id".into()]), None, m("b")),
            (expiry, None, m("fraud")),
            (raw_key(SCHEDULE, "s"), None, m("s")),
            (raw_key(GROUP, &group), None, m("ltv")),
            (raw_key(ALERT, "fp"), Some(alert.to_string()), m("churn")),
            (raw_key(ALERT, "fp"), None, KeyOwner::Local),
            (WAITING_KEY.to_vec(), None, KeyOwner::Local),
            (raw_key(SILENCE, "x"), Some("{}".into()), KeyOwner::Local),
        ] {
            assert_eq!(
                keys::owner(&k, v.as_deref().map(str::as_bytes)),
                want,
                "{}",
                String::from_utf8_lossy(&k)
            );
        }
    }

    #[test]
    fn join_entries_are_read_by_key_and_expired_in_ttl_order() {
        use crate::join::StoredJoins;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let profiles = crate::window::ProfileSet::default();
        let windows = crate::window::WindowSettings::default();
        let labels = crate::join::LabelSettings {
            ttl_ms: 1000,
            ..Default::default()
        };
        let mut state = IngestState::default();
        let label = |id: &str| {
            Record::Label(crate::event::LabelRecord {
                model: "m".into(),
                id: id.into(),
                label: crate::event::LabelValue::Number(1.0),
                ts_ms: 0,
            })
        };
        // Labels at now = 30, 10, 20 (expiring 1030, 1010, 1020); negative times too.
        for (id, now_ms) in [("c", 30), ("a", 10), ("b", 20), ("early", -5)] {
            let ctx = crate::state::ApplyContext {
                profiles: &profiles,
                windows: &windows,
                labels: &labels,
                joins: &store,
                buckets: &store,
                now_ms,
            };
            state.apply(&label(id), &ctx);
        }
        store.write_checkpoint(&state.changes()).unwrap();
        state.mark_clean(&windows, &Default::default(), 1_000_000);
        let key = |id: &str| ("m".to_string(), id.to_string());
        assert!(matches!(
            store.get(&key("a")),
            Ok(Some(Pending::Label {
                expires_ms: 1010,
                ..
            }))
        ));
        assert_eq!(store.get(&key("zz")), Ok(None));
        let order: Vec<_> = store
            .expired(1020, 10)
            .unwrap()
            .into_iter()
            .map(|(k, e)| (k.1, e))
            .collect();
        assert_eq!(
            order,
            [
                ("early".into(), 995),
                ("a".into(), 1010),
                ("b".into(), 1020)
            ]
        );
        assert_eq!(store.expired(1020, 2).unwrap().len(), 2);
        assert_eq!(state.expire_pending(1015, &store), 2);
        store.write_checkpoint(&state.changes()).unwrap();
        state.mark_clean(&windows, &Default::default(), 1_000_000);
        assert_eq!(store.get(&key("a")), Ok(None));
        drop(store);
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.load().unwrap().pending_joins(), 2);
        assert_eq!(reopened.expired(i64::MAX, 10).unwrap().len(), 2);
    }

    /// docs/resources.md's bytes per bucket: JSON (schema 1) against binary (schema 2)
    /// for the worked example's 20 numeric and 5 categorical features.
    #[test]
    fn binary_buckets_are_a_fraction_of_json() {
        use crate::dataset::Cell;
        use crate::event::FeatureValue;
        // 'static names, as the profile builder's cells borrow them.
        let cats: Vec<&'static str> = (0..100)
            .map(|i| &*Box::leak(format!("k{i}").into_boxed_str()))
            .collect();
        let mut rng = crate::base::rng::SplitMix::new(3);
        let names: Vec<String> = (0..20)
            .map(|i| format!("f{i}"))
            .chain((0..5).map(|i| format!("c{i}")))
            .collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let row = |rng: &mut crate::base::rng::SplitMix| -> Vec<Cell<'static>> {
            let mut r: Vec<Cell<'static>> = (0..20).map(|_| Cell::Number(rng.normal())).collect();
            for _ in 0..5 {
                r.push(Cell::Text(cats[(rng.uniform() * 100.0) as usize]));
            }
            r
        };
        let rows: Vec<_> = (0..20_000).map(|_| row(&mut rng)).collect();
        let profile = crate::window::IndexedProfile::new(crate::reference::test_profile(
            "v1", &name_refs, rows,
        ));
        let settings = crate::window::WindowSettings::default();
        for (events, max_ratio) in [(60u64, 0.1), (100_000, 0.5)] {
            let mut w = crate::window::WindowState::default();
            for _ in 0..events {
                let features = names
                    .iter()
                    .zip(row(&mut rng))
                    .map(|(n, c)| {
                        let v = match c {
                            Cell::Number(x) => FeatureValue::Number(x),
                            Cell::Text(t) => FeatureValue::Category(t.to_string()),
                            _ => FeatureValue::Missing,
                        };
                        (n.clone(), v)
                    })
                    .collect();
                let record = PredictionRecord {
                    model: "m".into(),
                    version: "v1".into(),
                    id: None,
                    ts_ms: 0,
                    features,
                    prediction: None,
                    latency_ms: Some(5.0 + 20.0 * rng.uniform()),
                    segment: vec![],
                };
                w.observe(
                    &record,
                    Some(&profile),
                    &settings,
                    1000,
                    &crate::window::NoStoredBuckets,
                );
            }
            let (changed, _) = w.changes();
            let bucket = changed[0].1;
            let (json, binary) = (
                serde_json::to_vec(bucket).unwrap().len(),
                postcard::to_stdvec(bucket).unwrap().len(),
            );
            println!("bucket of {events} events: JSON {json} bytes, binary {binary} bytes");
            assert!(
                (binary as f64) < json as f64 * max_ratio,
                "{events} events: binary {binary} vs JSON {json}"
            );
            let back: crate::window::Bucket =
                postcard::from_bytes(&postcard::to_stdvec(bucket).unwrap()).unwrap();
            assert_eq!(&back, bucket);
        }
    }

    #[test]
    fn a_newer_schema_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut batch = Batch::default();
            batch.insert(SCHEMA_KEY, 3u32.to_be_bytes());
            store.apply(STATE, batch).unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("schema version 3") && err.contains("newer driftd"),
            "{err}"
        );
    }
}
