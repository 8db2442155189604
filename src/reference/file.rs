//! Profiles from files: the reference side's only I/O (reading CSV or JSON lines
//! through [`crate::dataset`], and the checksum that identifies the source).

use std::path::Path;

use super::{ProfileBuilder, ProfileSettings, ReferenceProfile};
use crate::dataset::{self, DatasetError};

/// Reads a CSV or JSON-lines file into per-column values, ready either to become a
/// profile ([`ProfileBuilder::finish`]) or to be counted against one
/// ([`ProfileBuilder::count_against`]).
pub(crate) fn read_columns(path: &Path) -> Result<(Vec<String>, ProfileBuilder), DatasetError> {
    let mut builder = ProfileBuilder::default();
    let (columns, _) = dataset::read(path, |cols, row| builder.add_row(row, cols.names.len()))?;
    builder.pad_to(columns.names.len());
    Ok((columns.names, builder))
}

/// Builds a profile from a CSV or JSON-lines file.
pub(crate) fn profile_file(
    path: &Path,
    model: &str,
    version: &str,
    options: &ProfileSettings,
    created_at: &str,
) -> Result<ReferenceProfile, DatasetError> {
    let (names, builder) = read_columns(path)?;
    let (rows, features) = builder.finish(&names, options);
    let checksum = checksum_file(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(ReferenceProfile {
        id: format!("{model}@{version}#{}", &checksum[..8]),
        model: model.to_string(),
        version: version.to_string(),
        created_at: created_at.to_string(),
        source: path.display().to_string(),
        source_checksum: checksum,
        rows,
        resolution: options.resolution,
        psi_bins: options.psi_bins,
        max_categories: options.max_categories,
        features,
    })
}

/// FNV-1a 64 of a file, hex: identifies the source of a profile (not a security hash).
pub(crate) fn checksum_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for b in &buf[..n] {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}
