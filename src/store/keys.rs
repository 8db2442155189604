//! The byte layout of keys (the table in [`super`]): pure, no I/O.

use super::{
    StoreError, ALERT, BUCKET, DEPLOYMENT, EVENTS, EXPIRY, GROUP, JOIN, LABELS, OFFSET, OUTBOX,
    RETRAIN, SCHEDULE,
};
use crate::join::JoinKey;
use crate::window::BucketKey;

/// An i64 time that sorts as bytes: sign bit flipped, big-endian.
pub(super) fn time_bytes(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

pub(super) fn time_of(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

pub(super) fn expiry_key(expires_ms: i64, (model, id): &JoinKey) -> Vec<u8> {
    let mut k = EXPIRY.to_vec();
    k.extend_from_slice(&time_bytes(expires_ms));
    k.extend_from_slice(&key(b"", &[model, id]));
    k
}

pub(super) fn parse_expiry_key(k: &[u8]) -> Option<(i64, JoinKey)> {
    let rest = k.strip_prefix(EXPIRY)?;
    let (time, names) = (rest.get(..8)?, rest.get(8..)?);
    let mut parts = names.splitn(2, |&b| b == 0);
    let model = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let id = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((time_of(time.try_into().ok()?), (model, id)))
}

pub(super) fn raw_key(prefix: &[u8], rest: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(rest.as_bytes());
    k
}

pub(super) fn bucket_key(k: &BucketKey) -> Vec<u8> {
    let mut out = key(BUCKET, &[&k.model, &k.version]);
    out.push(0);
    out.push(k.tier.code());
    out.extend_from_slice(&time_bytes(k.start_ms));
    out
}

pub(super) fn parse_bucket_key(k: &[u8]) -> Option<BucketKey> {
    let rest = k.strip_prefix(BUCKET)?;
    // Fixed tail: \0, tier, 8 bytes of start.
    if rest.len() < 11 || rest[rest.len() - 10] != 0 {
        return None;
    }
    let (names, tail) = rest.split_at(rest.len() - 10);
    let tier = crate::window::Tier::from_code(tail[1])?;
    let start = time_of(tail[2..].try_into().ok()?);
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
        start_ms: start,
    })
}

pub(super) fn key(prefix: &[u8], parts: &[&String]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

pub(super) fn split(rest: &[u8], n: usize, whole: &[u8]) -> Result<Vec<String>, StoreError> {
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

pub(super) fn fixed<const N: usize>(v: &[u8], key: &[u8]) -> Result<[u8; N], StoreError> {
    v.try_into().map_err(|_| corrupt(key))
}

pub(super) fn corrupt(key: &[u8]) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
    }
}

/// Whose a key is in cluster mode: its model's (the partition the model's records are
/// on owns it), an input partition's (offsets), or this instance's alone (never
/// replicated: schema and counters of this store, silences, Alertmanager pushes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    Model(String),
    Partition(i32),
    Local,
}

/// The owner of `key`; `value` (JSON) names it for the keys that do not: alerts (their
/// `model` label), outbox entries (`model`).
pub(super) fn owner(key: &[u8], value: Option<&[u8]>) -> KeyOwner {
    fn first(rest: &[u8]) -> KeyOwner {
        let name = rest.split(|&b| b == 0).next().unwrap_or(rest);
        match std::str::from_utf8(name) {
            Ok(m) => KeyOwner::Model(m.to_string()),
            Err(_) => KeyOwner::Local,
        }
    }
    #[derive(serde::Deserialize)]
    struct Labelled {
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        model: Option<String>,
    }
    let from_value = || -> KeyOwner {
        let parsed = value.and_then(|v| serde_json::from_slice::<Labelled>(v).ok());
        match parsed {
            Some(Labelled { model: Some(m), .. }) => KeyOwner::Model(m),
            Some(Labelled { mut labels, .. }) => labels
                .remove("model")
                .map_or(KeyOwner::Local, KeyOwner::Model),
            None => KeyOwner::Local,
        }
    };
    for prefix in [EVENTS, LABELS, BUCKET, JOIN, RETRAIN, SCHEDULE, DEPLOYMENT] {
        if let Some(rest) = key.strip_prefix(prefix) {
            return first(rest);
        }
    }
    if let Some(rest) = key.strip_prefix(EXPIRY) {
        return rest.get(8..).map_or(KeyOwner::Local, first);
    }
    if let Some(rest) = key.strip_prefix(OFFSET) {
        return match rest.len().checked_sub(4).and_then(|at| rest.get(at..)) {
            Some(p) => KeyOwner::Partition(i32::from_be_bytes([p[0], p[1], p[2], p[3]])),
            None => KeyOwner::Local,
        };
    }
    if let Some(rest) = key.strip_prefix(GROUP) {
        return std::str::from_utf8(rest)
            .ok()
            .and_then(crate::notify::group::model_of_group_key)
            .map_or(KeyOwner::Local, KeyOwner::Model);
    }
    if key.starts_with(ALERT) || key.starts_with(OUTBOX) {
        return from_value();
    }
    KeyOwner::Local
}

/// An `offset` key and value: (topic, partition, next offset).
pub(super) fn parse_offset(key: &[u8], value: &[u8]) -> Option<(String, i32, i64)> {
    let rest = key.strip_prefix(OFFSET)?;
    if rest.len() < 6 || rest[rest.len() - 5] != 0 {
        return None;
    }
    let (topic, partition) = rest.split_at(rest.len() - 5);
    let topic = String::from_utf8(topic.to_vec()).ok()?;
    let partition = i32::from_be_bytes(partition[1..].try_into().ok()?);
    let offset = i64::from_be_bytes(value.try_into().ok()?);
    Some((topic, partition, offset))
}
