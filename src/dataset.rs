//! Tabular input for reference profiles and `driftd report`: CSV with a header row,
//! or JSON lines (the record format of the README, or flat objects). Streaming: rows
//! are handed to a callback one at a time, so memory does not grow with the file.
//!
//! Cells are typed the same way for both formats (see [`Cell`]). An empty CSV cell,
//! JSON `null`, an absent key and NaN are missing.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The column name a record's prediction gets.
static PREDICTION_KEY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::event::PREDICTION_FEATURE.to_string());

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Missing,
    /// A number (±∞ included; NaN is [`Cell::Missing`]).
    Number(f64),
    /// Anything else that can be a category: strings and booleans.
    Text(&'a str),
    /// A JSON array or object: neither a number nor a category.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// By extension: `.csv` → CSV, `.jsonl`/`.ndjson`/`.json` → JSON lines.
    pub(crate) fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot tell the format from the extension; use .csv or .jsonl")]
    UnknownFormat { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// Column names, in order of first appearance.
#[derive(Debug, Default, Clone)]
pub struct Columns {
    pub names: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Columns {
    /// Columns with these names, in this order.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Columns {
        let mut c = Columns::default();
        for n in names {
            c.id(n.as_ref());
        }
        c
    }

    fn id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// Reads `path` and calls `on_row(columns, row)` for each row; `row[i]` is the cell of
/// `columns.names[i]` (a row may be shorter than `names`: the rest are missing).
/// Returns the column names and the number of rows.
pub fn read(
    path: &Path,
    mut on_row: impl FnMut(&Columns, &[Cell<'_>]),
) -> Result<(Columns, u64), DatasetError> {
    let format = Format::from_path(path).ok_or_else(|| DatasetError::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let io_err = |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(path, total);
    let reader = ProgressReader {
        inner: file,
        progress,
    };
    match format {
        Format::Csv => read_csv(path, reader, &mut on_row),
        Format::JsonLines => {
            read_jsonl(path, BufReader::with_capacity(1 << 20, reader), &mut on_row)
        }
    }
}

fn read_csv<R: Read>(
    path: &Path,
    reader: R,
    on_row: &mut impl FnMut(&Columns, &[Cell<'_>]),
) -> Result<(Columns, u64), DatasetError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let malformed = |line: u64, message: String| DatasetError::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    };
    let header = csv
        .byte_headers()
        .map_err(|e| malformed(1, e.to_string()))?
        .clone();
    let mut columns = Columns::default();
    for (i, h) in header.iter().enumerate() {
        let name = std::str::from_utf8(h)
            .map_err(|_| malformed(1, format!("column {} name is not UTF-8", i + 1)))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(malformed(1, format!("column {} has no name", i + 1)));
        }
        if columns.index.contains_key(name) {
            return Err(malformed(1, format!("column `{name}` appears twice")));
        }
        columns.id(name);
    }
    let width = columns.names.len();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(rows + 2);
                return Err(malformed(line, e.to_string()));
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(rows + 2);
        if record.len() != width {
            if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
                continue; // a blank line
            }
            return Err(malformed(
                line,
                format!("row has {} fields, the header has {width}", record.len()),
            ));
        }
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(width);
        for field in record.iter() {
            let text = std::str::from_utf8(field)
                .map_err(|_| malformed(line, "a field is not UTF-8".into()))?;
            cells.push(csv_cell(text));
        }
        on_row(&columns, &cells);
        rows += 1;
    }
    Ok((columns, rows))
}

fn csv_cell(text: &str) -> Cell<'_> {
    let t = text.trim();
    if t.is_empty() {
        return Cell::Missing;
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_nan() => Cell::Missing,
        Ok(v) => Cell::Number(v),
        Err(_) => Cell::Text(t),
    }
}

fn read_jsonl<R: BufRead>(
    path: &Path,
    mut reader: R,
    on_row: &mut impl FnMut(&Columns, &[Cell<'_>]),
) -> Result<(Columns, u64), DatasetError> {
    let mut columns = Columns::default();
    let mut line = String::new();
    let mut line_no = 0u64;
    let mut rows = 0u64;
    let mut texts: Vec<String> = Vec::new();
    let mut row: Vec<(usize, Option<f64>, Option<usize>, bool)> = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|source| DatasetError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |message: String| DatasetError::Malformed {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let doc: Value =
            serde_json::from_str(&line).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
        let Value::Object(obj) = &doc else {
            return Err(malformed("expected a JSON object".into()));
        };
        // Records in the README's format keep features under "features" and the model's answer
        // under "prediction" (a column named `prediction`, as the daemon sees it);
        // flat objects are rows.
        let (fields, prediction) = match obj.get("features") {
            Some(Value::Object(f)) => (
                f,
                obj.get("prediction")
                    .filter(|_| !f.contains_key("prediction")),
            ),
            _ => (obj, None),
        };
        texts.clear();
        row.clear();
        let prediction = prediction.map(|p| match p {
            Value::Object(o) => match (o.get("score"), o.get("class")) {
                (Some(s @ Value::Number(_)), _) => s,
                (_, Some(c)) => c,
                _ => &Value::Null,
            },
            other => other,
        });
        for (name, value) in fields
            .iter()
            .chain(prediction.map(|p| (&*PREDICTION_KEY, p)))
        {
            let id = columns.id(name);
            match value {
                Value::Null => row.push((id, None, None, false)),
                Value::Number(n) => row.push((id, n.as_f64(), None, false)),
                Value::String(s) => {
                    texts.push(s.clone());
                    row.push((id, None, Some(texts.len() - 1), false));
                }
                Value::Bool(b) => {
                    texts.push(b.to_string());
                    row.push((id, None, Some(texts.len() - 1), false));
                }
                _ => row.push((id, None, None, true)),
            }
        }
        let mut cells = vec![Cell::Missing; columns.names.len()];
        for &(id, num, text, invalid) in &row {
            cells[id] = if invalid {
                Cell::Invalid
            } else if let Some(v) = num {
                if v.is_nan() {
                    Cell::Missing
                } else {
                    Cell::Number(v)
                }
            } else if let Some(t) = text {
                Cell::Text(&texts[t])
            } else {
                Cell::Missing
            };
        }
        on_row(&columns, &cells);
        rows += 1;
    }
    Ok((columns, rows))
}

/// A progress line on stderr for inputs that take more than a second, only when
/// stderr is a terminal (logs and CI output stay clean).
struct Progress {
    label: String,
    total: u64,
    read: u64,
    started: Instant,
    last: Instant,
    enabled: bool,
    shown: bool,
}

impl Progress {
    fn new(path: &Path, total: u64) -> Progress {
        Progress {
            label: path.display().to_string(),
            total,
            read: 0,
            started: Instant::now(),
            last: Instant::now(),
            enabled: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn advance(&mut self, n: usize) {
        self.read += n as u64;
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        if self.last.elapsed() < Duration::from_millis(200) && self.read < self.total {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let pct = if self.total > 0 {
            (self.read as f64 / self.total as f64 * 100.0).min(100.0)
        } else {
            0.0
        };
        let width = 30;
        let filled = (pct / 100.0 * width as f64) as usize;
        let _ = write!(
            std::io::stderr(),
            "\r{} [{}{}] {:5.1}% {:.0} MB/{:.0} MB",
            self.label,
            "#".repeat(filled),
            " ".repeat(width - filled),
            pct,
            self.read as f64 / 1e6,
            self.total as f64 / 1e6
        );
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown {
            let _ = writeln!(std::io::stderr());
        }
    }
}

struct ProgressReader<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(name: &str, text: &str) -> Result<Vec<Vec<String>>, DatasetError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        read(&path, |cols, row| {
            out.push(
                (0..cols.names.len())
                    .map(|i| {
                        format!(
                            "{}={:?}",
                            cols.names[i],
                            row.get(i).unwrap_or(&Cell::Missing)
                        )
                    })
                    .collect(),
            )
        })?;
        Ok(out)
    }

    #[test]
    fn csv_cells() {
        let rows = collect("a.csv", "x,y\n1.5,a\n,NaN\ninf,-3\n").unwrap();
        assert_eq!(rows[0], ["x=Number(1.5)", "y=Text(\"a\")"]);
        assert_eq!(rows[1], ["x=Missing", "y=Missing"]);
        assert_eq!(rows[2], ["x=Number(inf)", "y=Number(-3.0)"]);
    }

    #[test]
    fn ragged_csv_names_the_line() {
        let err = collect("a.csv", "x,y\n1,2\n3\n4,5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":3:") && err.contains("1 fields"), "{err}");
    }

    #[test]
    fn jsonl_design_records_and_flat_objects() {
        let rows = collect(
            "a.jsonl",
            "{\"model\":\"m\",\"features\":{\"age\":3,\"plan\":\"gold\",\"x\":null}}\n\n{\"age\":true,\"z\":[1]}\n",
        )
        .unwrap();
        assert_eq!(
            rows[0],
            ["age=Number(3.0)", "plan=Text(\"gold\")", "x=Missing"]
        );
        assert_eq!(
            rows[1],
            [
                "age=Text(\"true\")",
                "plan=Missing",
                "x=Missing",
                "z=Invalid"
            ]
        );
        let err = collect("b.jsonl", "{}\n[1]\n").unwrap_err().to_string();
        assert!(err.contains(":2:"), "{err}");
    }
}
