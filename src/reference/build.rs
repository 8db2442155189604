//! Building a profile from columns ([`ProfileBuilder`]) and counting current columns
//! against one ([`CurrentCounts`]). Pure: values in, profile or counts out.

use std::collections::{BTreeMap, HashMap};

use super::{
    number_key, FeatureCounts, FeatureKind, FeatureKindName, FeatureProfile, ProfileSettings,
};
use crate::dataset::{Cell, Columns};
use crate::stats::histogram::{CategoryBins, NumericBins};

/// Share of a column's present values that must be numbers for it to be numeric.
const NUMERIC_SHARE: f64 = 0.99;

/// Everything a column held, until its kind is decided.
#[derive(Default)]
struct ColumnValues {
    numbers: Vec<f64>,
    texts: HashMap<String, u64>,
    text_total: u64,
    missing: u64,
    invalid: u64,
}

/// Accumulates rows, then [`ProfileBuilder::finish`] decides kinds and bins.
#[derive(Default)]
pub struct ProfileBuilder {
    columns: Vec<ColumnValues>,
    rows: u64,
}

impl ProfileBuilder {
    /// Adds columns up to `width`; a column first seen now was missing in every
    /// earlier row.
    pub(crate) fn pad_to(&mut self, width: usize) {
        if self.columns.len() < width {
            let rows = self.rows;
            self.columns.resize_with(width, || ColumnValues {
                missing: rows,
                ..Default::default()
            });
        }
    }

    pub fn add_row(&mut self, row: &[Cell<'_>], width: usize) {
        self.pad_to(width);
        for (i, col) in self.columns.iter_mut().enumerate() {
            match row.get(i).unwrap_or(&Cell::Missing) {
                Cell::Missing => col.missing += 1,
                Cell::Number(v) => col.numbers.push(*v),
                Cell::Text(t) => {
                    col.text_total += 1;
                    match col.texts.get_mut(*t) {
                        Some(n) => *n += 1,
                        None => {
                            col.texts.insert((*t).to_string(), 1);
                        }
                    }
                }
                Cell::Invalid => col.invalid += 1,
            }
        }
        self.rows += 1;
    }

    /// Counts these columns against a profile: the same per-value rules as
    /// [`CurrentCounts::add_row`], applied to whole columns (in parallel).
    pub(crate) fn count_against<'p>(
        self,
        names: &[String],
        profile: &'p [FeatureProfile],
    ) -> CurrentCounts<'p> {
        let mut counts = CurrentCounts::new(profile);
        counts.rows = self.rows;
        let columns: Vec<(ColumnValues, &String)> = self.columns.into_iter().zip(names).collect();
        let counted = parallel_map(columns, |(col, name)| {
            let Some(i) = profile.iter().position(|f| &f.name == name) else {
                let present = col.numbers.len() as u64 + col.text_total;
                return Err((name.clone(), (present, col.numbers.len() as u64)));
            };
            let f = &profile[i];
            let mut c = f.empty_counts();
            f.observe_many(&mut c, &Cell::Missing, col.missing);
            f.observe_many(&mut c, &Cell::Invalid, col.invalid);
            for v in &col.numbers {
                f.observe(&mut c, &Cell::Number(*v));
            }
            for (t, n) in &col.texts {
                f.observe_many(&mut c, &Cell::Text(t), *n);
            }
            Ok((i, c))
        });
        for result in counted {
            match result {
                Ok((i, c)) => {
                    counts.seen[i] = true;
                    counts.features[i] = c;
                }
                Err((name, extra)) => {
                    counts.extra.insert(name, extra);
                }
            }
        }
        for (i, seen) in counts.seen.iter().enumerate() {
            if !seen {
                profile[i].observe_many(&mut counts.features[i], &Cell::Missing, counts.rows);
            }
        }
        counts
    }

    pub fn finish(self, names: &[String], options: &ProfileSettings) -> (u64, Vec<FeatureProfile>) {
        let columns: Vec<(ColumnValues, &String)> = self.columns.into_iter().zip(names).collect();
        let features = parallel_map(columns, |(col, name)| build_feature(name, col, options));
        (self.rows, features)
    }
}

fn build_feature(name: &str, col: ColumnValues, options: &ProfileSettings) -> FeatureProfile {
    let present = col.numbers.len() as u64 + col.text_total;
    let numeric = match options.kinds.get(name) {
        Some(FeatureKindName::Numeric) => true,
        Some(FeatureKindName::Categorical) => false,
        None => present == 0 || col.numbers.len() as f64 >= NUMERIC_SHARE * present as f64,
    };
    if numeric {
        let mut finite: Vec<f64> = col
            .numbers
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        finite.sort_unstable_by(f64::total_cmp);
        let bins = NumericBins::from_sorted(&finite, options.resolution, options.psi_bins);
        let mut counts = vec![0u64; bins.fine_bin_count()];
        for &v in &col.numbers {
            counts[bins.fine_bin(v)] += 1;
        }
        let (mean, std) = mean_std(&finite);
        FeatureProfile {
            name: name.to_string(),
            missing: col.missing,
            type_mismatch: col.text_total + col.invalid,
            kind: FeatureKind::Numeric {
                bins,
                counts,
                min: finite.first().copied(),
                max: finite.last().copied(),
                mean,
                std,
            },
        }
    } else {
        let mut all = col.texts;
        for v in &col.numbers {
            *all.entry(number_key(*v)).or_insert(0) += 1;
        }
        let bins = CategoryBins::from_counts(&all, options.max_categories);
        let mut counts = vec![0u64; bins.bin_count()];
        for (k, n) in &all {
            counts[bins.bin(k)] += n;
        }
        FeatureProfile {
            name: name.to_string(),
            missing: col.missing,
            type_mismatch: col.invalid,
            kind: FeatureKind::Categorical { bins, counts },
        }
    }
}

/// `items.map(f)` on every core, order kept: columns are independent, and sorting
/// and binning a million values each dominates a large report.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len().max(1));
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let mut buckets: Vec<Vec<(usize, T)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        buckets[i % threads].push((i, item));
    }
    let f = &f;
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = buckets
            .into_iter()
            .map(|b| s.spawn(move || b.into_iter().map(|(i, t)| (i, f(t))).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn mean_std(values: &[f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    // Welford: stable for huge magnitudes and long columns.
    let (mut mean, mut m2) = (0.0f64, 0.0f64);
    for (i, &v) in values.iter().enumerate() {
        let delta = v - mean;
        mean += delta / (i + 1) as f64;
        m2 += delta * (v - mean);
    }
    let var = m2 / values.len() as f64;
    let finite = |x: f64| x.is_finite().then_some(x);
    (finite(mean), finite(var.max(0.0).sqrt()))
}

/// Counts of a current dataset against a profile, column by column.
pub struct CurrentCounts<'p> {
    profile: &'p [FeatureProfile],
    pub rows: u64,
    pub features: Vec<FeatureCounts>,
    /// For each column id of the current file: the profile feature, or an extra column.
    mapping: Vec<Mapping>,
    /// Columns the reference does not have: name → (present values, numbers among them).
    pub extra: BTreeMap<String, (u64, u64)>,
    /// Profile features that the current data names at all.
    pub seen: Vec<bool>,
    /// Scratch: features present in the row being added.
    touched: Vec<bool>,
}

#[derive(Clone, Copy)]
enum Mapping {
    Feature(usize),
    Extra(usize),
}

impl<'p> CurrentCounts<'p> {
    pub fn new(profile: &'p [FeatureProfile]) -> Self {
        CurrentCounts {
            profile,
            rows: 0,
            features: profile.iter().map(FeatureProfile::empty_counts).collect(),
            mapping: Vec::new(),
            extra: BTreeMap::new(),
            seen: vec![false; profile.len()],
            touched: vec![false; profile.len()],
        }
    }

    /// Adds one row of a file with these columns. Features absent from the row are
    /// counted as missing.
    pub fn add_row(&mut self, columns: &Columns, row: &[Cell<'_>]) {
        while self.mapping.len() < columns.names.len() {
            let name = &columns.names[self.mapping.len()];
            let m = match self.profile.iter().position(|f| &f.name == name) {
                Some(i) => {
                    self.seen[i] = true;
                    Mapping::Feature(i)
                }
                None => {
                    self.extra.entry(name.clone()).or_insert((0, 0));
                    Mapping::Extra(self.mapping.len())
                }
            };
            self.mapping.push(m);
        }
        self.touched.iter_mut().for_each(|t| *t = false);
        for (col, cell) in row.iter().enumerate() {
            match self.mapping[col] {
                Mapping::Feature(i) => {
                    self.touched[i] = true;
                    self.profile[i].observe(&mut self.features[i], cell);
                }
                Mapping::Extra(c) => {
                    if !matches!(cell, Cell::Missing) {
                        let e = self
                            .extra
                            .get_mut(&columns.names[c])
                            .expect("extra columns are registered above");
                        e.0 += 1;
                        e.1 += u64::from(matches!(cell, Cell::Number(_)));
                    }
                }
            }
        }
        for i in 0..self.profile.len() {
            if !self.touched[i] {
                self.profile[i].observe(&mut self.features[i], &Cell::Missing);
            }
        }
        self.rows += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ProfileSettings {
        ProfileSettings {
            resolution: 1000,
            psi_bins: 10,
            max_categories: 100,
            kinds: BTreeMap::new(),
        }
    }

    fn build(rows: &[Vec<Cell<'_>>], names: &[&str], o: &ProfileSettings) -> Vec<FeatureProfile> {
        let mut b = ProfileBuilder::default();
        for r in rows {
            b.add_row(r, names.len());
        }
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        b.finish(&names, o).1
    }

    #[test]
    fn kinds_are_inferred_and_overridable() {
        let rows: Vec<Vec<Cell>> = (0..200)
            .map(|i| {
                vec![
                    Cell::Number(i as f64),
                    if i == 7 {
                        Cell::Text("oops")
                    } else {
                        Cell::Number(1.0)
                    },
                    Cell::Text(if i % 2 == 0 { "a" } else { "b" }),
                    Cell::Number((i % 3) as f64),
                ]
            })
            .collect();
        let mut o = options();
        o.kinds.insert("code".into(), FeatureKindName::Categorical);
        let f = build(&rows, &["x", "mostly", "plan", "code"], &o);
        assert_eq!(f[0].kind.name(), "numeric");
        assert_eq!(
            f[1].kind.name(),
            "numeric",
            "one stray string in 200 stays numeric"
        );
        assert_eq!(f[1].type_mismatch, 1);
        assert_eq!(f[2].kind.name(), "categorical");
        let FeatureKind::Categorical { bins, counts } = &f[3].kind else {
            panic!()
        };
        assert_eq!(bins.categories.len(), 3);
        assert_eq!(counts.iter().sum::<u64>(), 200);
    }

    #[test]
    fn constant_and_empty_columns() {
        let rows: Vec<Vec<Cell>> = (0..10)
            .map(|_| vec![Cell::Number(5.0), Cell::Missing])
            .collect();
        let f = build(&rows, &["c", "e"], &options());
        let FeatureKind::Numeric {
            bins,
            min,
            max,
            std,
            ..
        } = &f[0].kind
        else {
            panic!()
        };
        assert_eq!(bins.psi_edges, vec![5.0]);
        assert_eq!((*min, *max, *std), (Some(5.0), Some(5.0), Some(0.0)));
        let FeatureKind::Numeric { bins, min, .. } = &f[1].kind else {
            panic!()
        };
        assert!(bins.psi_edges.is_empty() && min.is_none());
        assert_eq!(f[1].missing, 10);
    }

    #[test]
    fn current_counts_track_missing_mismatch_and_extras() {
        let rows: Vec<Vec<Cell>> = (0..100).map(|i| vec![Cell::Number(i as f64)]).collect();
        let profile = build(&rows, &["x"], &options());
        let mut cur = CurrentCounts::new(&profile);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.csv");
        std::fs::write(&p, "x,new\n1,a\n,b\nzz,\n1e9,c\n").unwrap();
        crate::dataset::read(&p, |c, r| cur.add_row(c, r)).unwrap();
        let FeatureCounts::Numeric(c) = &cur.features[0] else {
            panic!()
        };
        assert_eq!(
            (c.count(), c.missing, c.type_mismatch, c.out_of_range),
            (2, 1, 1, 1)
        );
        assert_eq!(cur.extra["new"], (3, 0));
        assert_eq!(cur.rows, 4);
    }
}
