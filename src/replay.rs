//! JSON-lines replay (`driftd run --input FILE|-`): the same decoding and state as the
//! Kafka path, for backfills and for feeding recorded logs through driftd.
//!
//! Lines that do not decode are reported with their line number and, with
//! `--dead-letter FILE`, written there as JSON lines; none stops the replay.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::base::time::unix_now_ms;
use crate::config::Config;
use crate::event::SourceRole;
use crate::ingest::{CheckpointError, DeadLetterSink, Ingest, Origin, Rejected};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write dead-letter file {path}: {source}")]
    DeadLetterFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config has no [[source]] with role = \"{0}\" to take field paths from")]
    NoSource(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub lines: u64,
    pub rejected: u64,
}

/// Rejected lines: to the log, and to a JSON-lines file when one is given.
pub(crate) struct FileDeadLetter {
    out: Option<(PathBuf, BufWriter<File>)>,
    rejected: u64,
    error: Option<std::io::Error>,
}

impl DeadLetterSink for FileDeadLetter {
    fn send(&mut self, r: Rejected<'_>) {
        self.rejected += 1;
        tracing::warn!(line = r.origin.offset, reason = r.error.reason.as_str(),
            error = %r.error.detail, "rejected line");
        if let Some((_, w)) = &mut self.out {
            let line = json!({
                "line": r.origin.offset,
                "reason": r.error.reason.as_str(),
                "error": r.error.detail,
                "record": String::from_utf8_lossy(r.payload),
            });
            if let Err(e) = writeln!(w, "{line}") {
                self.error.get_or_insert(e);
            }
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e.to_string());
        }
        if let Some((_, w)) = &mut self.out {
            w.flush().map_err(|e| e.to_string())?;
            w.get_ref().sync_data().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Replays `input` (`-` for stdin) into the store configured in `config`.
pub fn replay(
    config: &Config,
    input: &Path,
    role: SourceRole,
    dead_letter: Option<&Path>,
) -> Result<ReplaySummary, ReplayError> {
    let role_name = match role {
        SourceRole::Predictions => "predictions",
        SourceRole::Labels => "labels",
    };
    let paths = config
        .first_source(role)
        .ok_or(ReplayError::NoSource(role_name))?
        .fields
        .clone();
    let out = match dead_letter {
        Some(p) => Some((
            p.to_path_buf(),
            BufWriter::new(
                File::create(p).map_err(|source| ReplayError::DeadLetterFile {
                    path: p.to_path_buf(),
                    source,
                })?,
            ),
        )),
        None => None,
    };
    let sink = FileDeadLetter {
        out,
        rejected: 0,
        error: None,
    };
    let store = Store::open_with(
        &config.storage.path,
        crate::store::StoreSettings::from_budget(config.storage.memory_budget),
    )?;
    let mut ingest = Ingest::new(config, store, Metrics::new()?, sink)?;
    ingest.keep_predictions_for_labels();

    let read_err = |source| ReplayError::Read {
        path: input.to_path_buf(),
        source,
    };
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        Box::new(BufReader::new(File::open(input).map_err(read_err)?))
    };
    let topic = input.display().to_string();
    let mut summary = ReplaySummary::default();
    let mut last = std::time::Instant::now();
    for line in reader.split(b'\n') {
        let mut line = line.map_err(read_err)?;
        summary.lines += 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines separate nothing in JSON lines; skip them
        }
        let origin = Origin {
            topic: &topic,
            partition: None,
            offset: summary.lines as i64,
            timestamp_ms: unix_now_ms(),
        };
        ingest.handle(origin, Some((role, &paths)), None, &line);
        if last.elapsed() >= config.storage.checkpoint_interval {
            ingest.checkpoint()?;
            last = std::time::Instant::now();
            tracing::info!(lines = summary.lines, "replay progress");
        }
    }
    ingest.checkpoint()?;
    summary.rejected = ingest.sink().rejected;
    Ok(summary)
}
