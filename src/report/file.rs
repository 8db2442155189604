//! `driftd report`: the drift of a current file against a reference file.

use std::path::Path;

use super::html::Pictures;
use super::{feature_drift, unprofiled_column, DriftReport, ReportSettings};
use crate::chart::Distribution;
use crate::dataset::DatasetError;
use crate::reference::{read_columns, ProfileSettings};

/// A report of two files and what its HTML page draws.
pub(crate) struct FileComparison {
    pub report: DriftReport,
    pub pictures: Pictures,
}

/// Builds the reference's profile and counts the current file in its bins, then
/// reports every feature (and the columns only the current file has).
pub(crate) fn compare_files(
    reference: &Path,
    current: &Path,
    profile: &ProfileSettings,
    psi_epsilon: f64,
    settings: &ReportSettings,
) -> Result<FileComparison, DatasetError> {
    let started = std::time::Instant::now();
    // Both files are parsed at once, one thread each; the current columns are then
    // counted against the reference's bins.
    let (r, c) = std::thread::scope(|s| {
        let r = s.spawn(|| read_columns(reference));
        let c = s.spawn(|| read_columns(current));
        (
            r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            c.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    let ((ref_names, ref_columns), (cur_names, cur_columns)) = (r?, c?);
    tracing::debug!(elapsed = ?started.elapsed(), "files read");
    let (reference_rows, features) = ref_columns.finish(&ref_names, profile);
    let current = cur_columns.count_against(&cur_names, &features);
    tracing::debug!(elapsed = ?started.elapsed(), "current counted");
    let mut drift: Vec<_> = features
        .iter()
        .zip(&current.features)
        .zip(&current.seen)
        .map(|((f, c), seen)| {
            feature_drift(
                f,
                c,
                current.rows,
                *seen || current.rows == 0,
                psi_epsilon,
                settings,
            )
        })
        .collect();
    // The pictures cost a pass over each feature's bins: nothing beside the files.
    let mut distributions: Vec<_> = features
        .iter()
        .zip(&current.features)
        .map(|(f, c)| Some(Distribution::of(f, c)))
        .collect();
    for (name, (present, numbers)) in &current.extra {
        drift.push(unprofiled_column(name, *present, *numbers, current.rows));
        distributions.push(None);
    }
    let report = DriftReport::new(reference_rows, current.rows, drift);
    tracing::debug!(elapsed = ?started.elapsed(), "report computed");
    Ok(FileComparison {
        report,
        pictures: Pictures {
            distributions,
            history: Default::default(),
        },
    })
}
