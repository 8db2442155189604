//! Reference profiles: what "normal" looks like for each feature, built once from a
//! reference dataset (bins: docs/statistics.md), and the current-side counts measured against it.
//!
//! A profile holds, per feature, the bins (numeric: fine quantile edges and PSI
//! edges; categorical: the vocabulary) and the reference's own counts in those bins,
//! so every statistic can be computed later from counts alone.
//!
//! - this file: the profile types, and a captured profile (a window's counts in a
//!   profile's bins)
//! - [`build`]: building a profile from columns, and counting current columns
//!   against one (pure)
//! - [`file`](mod@file): the same from CSV or JSON-lines files (the only file I/O here)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataset::Cell;
use crate::stats::histogram::{CategoryBins, CategoryCounts, NumericBins, NumericCounts};

mod build;
mod file;

pub use build::{CurrentCounts, ProfileBuilder};
pub(crate) use file::{profile_file, read_columns};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    pub id: String,
    pub model: String,
    pub version: String,
    /// RFC 3339.
    pub created_at: String,
    pub source: String,
    /// FNV-1a 64 of the source file's bytes, hex.
    pub source_checksum: String,
    pub rows: u64,
    pub resolution: usize,
    pub psi_bins: usize,
    pub max_categories: usize,
    pub features: Vec<FeatureProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    pub missing: u64,
    pub type_mismatch: u64,
    #[serde(flatten)]
    pub kind: FeatureKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureKind {
    Numeric {
        bins: NumericBins,
        /// Reference counts per fine bin (±∞ in the end bins).
        counts: Vec<u64>,
        /// Finite range; `None` when the reference has no finite value.
        min: Option<f64>,
        max: Option<f64>,
        mean: Option<f64>,
        /// Population standard deviation of the finite values.
        std: Option<f64>,
    },
    Categorical {
        bins: CategoryBins,
        /// Reference counts per category, `__other__` last.
        counts: Vec<u64>,
    },
}

impl FeatureKind {
    pub fn name(&self) -> &'static str {
        match self {
            FeatureKind::Numeric { .. } => "numeric",
            FeatureKind::Categorical { .. } => "categorical",
        }
    }
}

impl FeatureProfile {
    /// Empty counts over this feature's bins.
    pub(crate) fn empty_counts(&self) -> FeatureCounts {
        match &self.kind {
            FeatureKind::Numeric { bins, .. } => FeatureCounts::Numeric(NumericCounts::new(bins)),
            FeatureKind::Categorical { bins, .. } => {
                FeatureCounts::Categorical(CategoryCounts::new(bins))
            }
        }
    }

    /// Adds one current value.
    #[inline]
    pub(crate) fn observe(&self, counts: &mut FeatureCounts, cell: &Cell<'_>) {
        match (&self.kind, counts) {
            (FeatureKind::Numeric { bins, min, max, .. }, FeatureCounts::Numeric(c)) => {
                match cell {
                    Cell::Missing => c.missing += 1,
                    Cell::Number(v) => c.add(
                        bins,
                        (
                            min.unwrap_or(f64::INFINITY),
                            max.unwrap_or(f64::NEG_INFINITY),
                        ),
                        *v,
                    ),
                    Cell::Text(_) | Cell::Invalid => c.type_mismatch += 1,
                }
            }
            (FeatureKind::Categorical { bins, .. }, FeatureCounts::Categorical(c)) => match cell {
                Cell::Missing => c.missing += 1,
                Cell::Number(v) => c.add(bins, &number_key(*v)),
                Cell::Text(t) => c.add(bins, t),
                Cell::Invalid => c.type_mismatch += 1,
            },
            _ => {}
        }
    }
}

impl FeatureProfile {
    /// The same bins with other reference counts (a captured window or a rolling
    /// reference); the range and spread stay this profile's.
    pub(crate) fn with_reference_counts(&self, counts: &FeatureCounts) -> FeatureProfile {
        let mut f = self.clone();
        match (&mut f.kind, counts) {
            (FeatureKind::Numeric { counts: c, .. }, FeatureCounts::Numeric(n)) => {
                c.clone_from(&n.bins);
                f.missing = n.missing;
                f.type_mismatch = n.type_mismatch;
            }
            (FeatureKind::Categorical { counts: c, .. }, FeatureCounts::Categorical(n)) => {
                c.clone_from(&n.bins);
                f.missing = n.missing;
                f.type_mismatch = n.type_mismatch;
            }
            _ => {}
        }
        f
    }

    /// Adds the same current value `n` times.
    pub(crate) fn observe_many(&self, counts: &mut FeatureCounts, cell: &Cell<'_>, n: u64) {
        match (cell, counts) {
            (Cell::Missing, FeatureCounts::Numeric(c)) => c.missing += n,
            (Cell::Missing, FeatureCounts::Categorical(c)) => c.missing += n,
            (Cell::Invalid | Cell::Text(_), FeatureCounts::Numeric(c)) => c.type_mismatch += n,
            (Cell::Invalid, FeatureCounts::Categorical(c)) => c.type_mismatch += n,
            (_, counts) => {
                for _ in 0..n {
                    self.observe(counts, cell);
                }
            }
        }
    }
}

/// Current-side counts of one feature; merges by addition.
///
/// `{"kind": "numeric", …}` in JSON; externally tagged in the store's binary encoding,
/// which cannot read an internal tag (it needs the type before the fields).
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureCounts {
    Numeric(NumericCounts),
    Categorical(CategoryCounts),
}

mod feature_counts_serde {
    use super::{CategoryCounts, FeatureCounts, NumericCounts};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "lowercase")]
    enum TaggedRef<'a> {
        Numeric(&'a NumericCounts),
        Categorical(&'a CategoryCounts),
    }

    #[derive(Serialize)]
    enum ExternalRef<'a> {
        Numeric(&'a NumericCounts),
        Categorical(&'a CategoryCounts),
    }

    #[derive(Deserialize)]
    #[serde(tag = "kind", rename_all = "lowercase")]
    enum Tagged {
        Numeric(NumericCounts),
        Categorical(CategoryCounts),
    }

    #[derive(Deserialize)]
    enum External {
        Numeric(NumericCounts),
        Categorical(CategoryCounts),
    }

    impl Serialize for FeatureCounts {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match (self, s.is_human_readable()) {
                (FeatureCounts::Numeric(c), true) => TaggedRef::Numeric(c).serialize(s),
                (FeatureCounts::Categorical(c), true) => TaggedRef::Categorical(c).serialize(s),
                (FeatureCounts::Numeric(c), false) => ExternalRef::Numeric(c).serialize(s),
                (FeatureCounts::Categorical(c), false) => ExternalRef::Categorical(c).serialize(s),
            }
        }
    }

    impl<'de> Deserialize<'de> for FeatureCounts {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(if d.is_human_readable() {
                match Tagged::deserialize(d)? {
                    Tagged::Numeric(c) => FeatureCounts::Numeric(c),
                    Tagged::Categorical(c) => FeatureCounts::Categorical(c),
                }
            } else {
                match External::deserialize(d)? {
                    External::Numeric(c) => FeatureCounts::Numeric(c),
                    External::Categorical(c) => FeatureCounts::Categorical(c),
                }
            })
        }
    }
}

/// A number used as a category: its shortest decimal form, the same on both sides.
pub(crate) fn number_key(v: f64) -> String {
    v.to_string()
}

impl ReferenceProfile {
    /// This profile's bins with a captured window's counts as the reference: what
    /// `reference capture` stores. `rows` and `counts` are the window's (one entry per
    /// feature of this profile); `from` and `to` name the period in the source.
    pub fn captured(
        &self,
        rows: u64,
        counts: &[FeatureCounts],
        (from, to): (&str, &str),
        from_ms: i64,
        created_at: String,
    ) -> ReferenceProfile {
        ReferenceProfile {
            id: format!("{}@{}#capture-{from_ms}", self.model, self.version),
            created_at,
            source: format!("capture:{from}..{to}"),
            source_checksum: String::new(),
            rows,
            features: self
                .features
                .iter()
                .zip(counts)
                .map(|(f, c)| f.with_reference_counts(c))
                .collect(),
            ..self.clone()
        }
    }

    /// The profile without its per-bin arrays (`reference show`).
    pub fn summary(&self) -> serde_json::Value {
        use serde_json::json;
        let features: Vec<_> = self
            .features
            .iter()
            .map(|f| {
                let mut v = json!({
                    "name": f.name, "kind": f.kind.name(),
                    "missing_rate": if self.rows > 0 { f.missing as f64 / self.rows as f64 } else { 0.0 },
                    "type_mismatch": f.type_mismatch,
                });
                match &f.kind {
                    FeatureKind::Numeric {
                        bins,
                        min,
                        max,
                        mean,
                        std,
                        ..
                    } => {
                        v["min"] = json!(min);
                        v["max"] = json!(max);
                        v["mean"] = json!(mean);
                        v["std"] = json!(std);
                        v["psi_edges"] = json!(bins.psi_edges);
                        v["fine_edges"] = json!(bins.fine_edges.len());
                    }
                    FeatureKind::Categorical { bins, counts } => {
                        v["categories"] = json!(bins.categories);
                        v["counts"] = json!(counts);
                    }
                }
                v
            })
            .collect();
        json!({
            "id": self.id, "model": self.model, "version": self.version,
            "created_at": self.created_at, "source": self.source,
            "source_checksum": self.source_checksum, "rows": self.rows,
            "resolution": self.resolution, "psi_bins": self.psi_bins,
            "max_categories": self.max_categories, "features": features,
        })
    }
}

/// How a profile is built (from `[profile]`).
#[derive(Debug, Clone)]
pub struct ProfileSettings {
    pub resolution: usize,
    pub psi_bins: usize,
    pub max_categories: usize,
    pub kinds: BTreeMap<String, FeatureKindName>,
}

/// A feature kind forced by name (`[profile.kinds]`), for columns that inference
/// would get wrong (e.g. numeric-looking codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKindName {
    Numeric,
    Categorical,
}

/// A profile of model `m` built from rows, with the default options: a fixture
/// shared by the unit tests of the modules that consume profiles.
#[cfg(test)]
pub(crate) fn test_profile(
    version: &str,
    names: &[&str],
    rows: impl IntoIterator<Item = Vec<Cell<'static>>>,
) -> ReferenceProfile {
    let options = ProfileSettings {
        resolution: 1000,
        psi_bins: 10,
        max_categories: 100,
        kinds: BTreeMap::new(),
    };
    let mut b = ProfileBuilder::default();
    for r in rows {
        b.add_row(&r, names.len());
    }
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let (rows, features) = b.finish(&names, &options);
    ReferenceProfile {
        id: format!("m@{version}"),
        model: "m".into(),
        version: version.into(),
        created_at: String::new(),
        source: String::new(),
        source_checksum: String::new(),
        rows,
        resolution: options.resolution,
        psi_bins: options.psi_bins,
        max_categories: options.max_categories,
        features,
    }
}
