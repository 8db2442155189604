//! Schema 1 → 2: a sled store (buckets and join entries as JSON) rewritten into the
//! redb file next to it, on the first open by this driftd.
//!
//! Crash-safe by order: the profiles are written first, then the state in one
//! transaction that ends with the schema key, and only then are sled's files moved
//! aside (into `schema-1-sled/`, kept as a backup). A crash before the state commits
//! leaves no schema key, so the next open upgrades again from the untouched sled files.

use std::path::Path;

use super::keys::{expiry_key, split};
use super::{
    fixed, Batch, Store, StoreError, BUCKET, JOIN, REFERENCES, REFERENCE_SEQ_KEY, SCHEMA_KEY,
    SCHEMA_VERSION, STATE, WAITING_KEY,
};
use crate::join::Pending;
use crate::window::Bucket;

/// sled's files in a store directory.
const SLED_FILES: &[&str] = &["conf", "db", "blobs"];
/// Where they are moved once upgraded.
const BACKUP: &str = "schema-1-sled";

pub(super) fn has_schema_1(path: &Path) -> bool {
    path.join("conf").is_file() && path.join("db").is_file()
}

pub(super) fn from_schema_1(store: &Store) -> Result<(), StoreError> {
    let path = store.path.to_path_buf();
    let failed = |detail: String| StoreError::Upgrade {
        path: path.clone(),
        detail,
    };
    let started = std::time::Instant::now();
    let sled_err = |e: sled::Error| failed(format!("reading sled: {e}"));
    let db = sled::Config::new()
        .path(&path)
        .flush_every_ms(None)
        .open()
        .map_err(sled_err)?;
    let state = db.open_tree("state").map_err(sled_err)?;
    let references = db.open_tree("references").map_err(sled_err)?;
    let found = match state.get(SCHEMA_KEY).map_err(sled_err)? {
        Some(v) => u32::from_be_bytes(fixed(&v, SCHEMA_KEY)?),
        None => return Err(failed("the sled store has no schema version".into())),
    };
    if found != 1 {
        return Err(StoreError::Schema { path, found });
    }

    let mut profiles = Batch::default();
    let mut last_seq = 0u64;
    for kv in references.iter() {
        let (k, v) = kv.map_err(sled_err)?;
        let seq = u64::from_be_bytes(fixed(&k[k.len().saturating_sub(8)..], &k)?);
        last_seq = last_seq.max(seq);
        profiles.insert(k.to_vec(), v);
    }
    store.apply(REFERENCES, profiles)?;

    let mut batch = Batch::default();
    let (mut buckets, mut joins, mut other) = (0u64, 0u64, 0u64);
    for kv in state.iter() {
        let (k, v) = kv.map_err(sled_err)?;
        if k.starts_with(BUCKET) {
            let bucket: crate::window::Bucket = serde_json::from_slice(&v)?;
            batch.insert(k.to_vec(), postcard::to_stdvec(&bucket)?);
            buckets += 1;
        } else if k.starts_with(JOIN) {
            let parts = split(&k[JOIN.len()..], 2, &k)?;
            let pending: Pending = serde_json::from_slice(&v)?;
            let join_key = (parts[0].clone(), parts[1].clone());
            batch.insert(expiry_key(pending.expires_ms(), &join_key), []);
            batch.insert(k.to_vec(), postcard::to_stdvec(&pending)?);
            joins += 1;
        } else if &*k != SCHEMA_KEY {
            // Counts, offsets, alerts, groups, retraining and the outbox: unchanged.
            batch.insert(k.to_vec(), v);
            other += 1;
        }
    }
    batch.insert(WAITING_KEY, joins.to_be_bytes());
    batch.insert(REFERENCE_SEQ_KEY, last_seq.to_be_bytes());
    batch.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes());
    store.apply(STATE, batch)?;
    drop((state, references, db));

    let backup = path.join(BACKUP);
    let moved = std::fs::create_dir_all(&backup).and_then(|()| {
        for entry in std::fs::read_dir(&path)? {
            let name = entry?.file_name();
            let name_str = name.to_string_lossy();
            if SLED_FILES.contains(&name_str.as_ref()) || name_str.starts_with("snap.") {
                std::fs::rename(path.join(&name), backup.join(&name))?;
            }
        }
        Ok(())
    });
    if let Err(e) = moved {
        // The upgrade is done (the schema key says so); the old files only take space.
        tracing::warn!(error = %e, "could not move the schema-1 files aside; remove them by hand");
    }
    tracing::info!(path = %path.display(), buckets, joins, other, took = ?started.elapsed(),
        backup = %backup.display(),
        "upgraded the store from schema version 1 (sled) to {SCHEMA_VERSION} (redb)");
    Ok(())
}

/// A bucket as stored before [`Bucket::shadow`]: the same fields, in order.
#[derive(serde::Deserialize)]
struct BucketWithoutShadow {
    events: u64,
    last_event_ms: i64,
    profile_id: Option<String>,
    features: Vec<crate::reference::FeatureCounts>,
    unknown_features: u64,
    latency: crate::stats::latency::LatencyHistogram,
    performance: crate::stats::performance::PerformanceCounts,
    performance_by_segment:
        std::collections::BTreeMap<String, crate::stats::performance::PerformanceCounts>,
}

/// A bucket from the store's binary form, in this layout or the one before
/// [`Bucket::shadow`]: postcard has no field names, so a bucket written before the
/// field existed ends where it would begin, and reads as the older layout.
pub(super) fn bucket_from_binary(bytes: &[u8]) -> Result<Bucket, postcard::Error> {
    postcard::from_bytes(bytes).or_else(|e| {
        let old: BucketWithoutShadow = postcard::from_bytes(bytes).map_err(|_| e)?;
        Ok(Bucket {
            events: old.events,
            last_event_ms: old.last_event_ms,
            profile_id: old.profile_id,
            features: old.features,
            unknown_features: old.unknown_features,
            latency: old.latency,
            performance: old.performance,
            performance_by_segment: old.performance_by_segment,
            shadow: Default::default(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_stored_before_shadow_pairs_still_reads() {
        let mut bucket = Bucket::new(None);
        bucket.events = 7;
        bucket.performance.add_binary(0.9, true, 0.5);
        let now = postcard::to_stdvec(&bucket).unwrap();
        // The empty map of pairs is one byte (its length), the last.
        assert_eq!(now.last(), Some(&0));
        let before = &now[..now.len() - 1];
        assert_eq!(bucket_from_binary(before).unwrap(), bucket);
        assert_eq!(bucket_from_binary(&now).unwrap(), bucket);
        bucket.shadow.entry("s".into()).or_default().pairs = 3;
        let with = postcard::to_stdvec(&bucket).unwrap();
        assert_eq!(bucket_from_binary(&with).unwrap(), bucket);
        assert!(bucket_from_binary(&with[..4]).is_err(), "truncated");
    }
}
