//! Count vectors in the store's binary encoding: sparse, as (gap, count) pairs of the
//! non-zero bins, when fewer than half are non-zero, else dense. A bucket of a quiet
//! minute fills a few of a feature's hundreds of fine bins; written densely, its zeros
//! were most of the store's bytes. (The binary format's varints make each count 1–3
//! bytes either way.)
//!
//! Human-readable formats (the JSON API, `state show`) keep the plain array, so this
//! changes only what [`crate::store`] writes. Used as `#[serde(with = "sparse")]`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
enum Encoded<'a> {
    #[serde(borrow)]
    Dense(std::borrow::Cow<'a, [u64]>),
    /// Length, then (zeros skipped, count) per non-zero bin.
    Sparse(u64, Vec<(u64, u64)>),
}

pub fn serialize<S: Serializer>(counts: &[u64], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        return counts.serialize(s);
    }
    let nonzero = counts.iter().filter(|&&c| c != 0).count();
    if nonzero * 2 >= counts.len() {
        return Encoded::Dense(std::borrow::Cow::Borrowed(counts)).serialize(s);
    }
    let mut pairs = Vec::with_capacity(nonzero);
    let mut next = 0usize;
    for (i, &c) in counts.iter().enumerate() {
        if c != 0 {
            pairs.push(((i - next) as u64, c));
            next = i + 1;
        }
    }
    Encoded::Sparse(counts.len() as u64, pairs).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    if d.is_human_readable() {
        return Vec::<u64>::deserialize(d);
    }
    let (len, pairs) = match Encoded::deserialize(d)? {
        Encoded::Dense(counts) => return Ok(counts.into_owned()),
        Encoded::Sparse(len, pairs) => (len, pairs),
    };
    let invalid = || serde::de::Error::custom("sparse counts out of range");
    // A corrupt length must not allocate: a bin is one of at most a few thousand.
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= 1 << 20)
        .ok_or_else(invalid)?;
    let mut out = vec![0; len];
    let mut at = 0usize;
    for (gap, c) in pairs {
        at = usize::try_from(gap)
            .ok()
            .and_then(|g| at.checked_add(g))
            .filter(|&i| i < len)
            .ok_or_else(invalid)?;
        out[at] = c;
        at += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Counts(#[serde(with = "super")] Vec<u64>);

    #[test]
    fn round_trips_sparse_in_binary_and_dense_in_json() {
        for v in [vec![], vec![0; 5], vec![3, 0, 0, 7, 0, 1], vec![1; 4]] {
            let c = Counts(v.clone());
            let bytes = postcard::to_stdvec(&c).unwrap();
            assert_eq!(postcard::from_bytes::<Counts>(&bytes).unwrap(), c);
            assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::json!(v));
        }
        let quiet = Counts((0..1000).map(|i| u64::from(i == 500)).collect());
        assert!(postcard::to_stdvec(&quiet).unwrap().len() < 10);
    }

    #[test]
    fn refuses_counts_out_of_range() {
        let bad = postcard::to_stdvec(&super::Encoded::Sparse(3, vec![(1, 1), (1, 1)])).unwrap();
        assert!(postcard::from_bytes::<Counts>(&bad).is_err());
        let huge = postcard::to_stdvec(&super::Encoded::Sparse(u64::MAX, vec![])).unwrap();
        assert!(postcard::from_bytes::<Counts>(&huge).is_err());
    }
}
