//! The byte layout of keys (the table in [`super`]): pure, no I/O.

use super::{StoreError, BUCKET, EXPIRY};
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
