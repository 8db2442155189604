//! Records: their types, where their fields live, and decoding — bytes of one Kafka
//! message (or one line of a JSON-lines file) in, a typed [`Record`] or a
//! [`DecodeError`] with a reason out. Pure: no I/O.
//!
//! - this file: the record types, the decode reasons and their limits
//! - [`fields`]: [`RecordFields`] (JSON pointers per field, the timestamp's unit and
//!   zone) and [`SourceRole`], the per-topic part of `[[source]]`
//! - [`framing`]: [`WireFormat`] and [`unframe`], the Confluent header around the JSON
//! - [`decode`](mod@decode): raw-JSON decoding without a `Value` tree, and its checks
//!
//! Field locations come from [`RecordFields`] (JSON pointers), so logs in another shape
//! are read without re-formatting them. The reasons are a small fixed set because they
//! become a Prometheus label; the detail, which names the field, goes into the
//! dead-letter header and the log.

mod decode;
mod fields;
mod framing;

pub(crate) use decode::check_name;
pub use decode::decode;
pub(crate) use fields::JsonPointer;
pub use fields::{RecordFields, SourceRole, TimestampUnit};
pub use framing::{unframe, WireFormat};

/// Longest model, version, id, feature or segment name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest categorical feature value or predicted class accepted, in bytes: categories
/// come from a finite set, and a longer one is a free-text field logged by mistake.
pub const MAX_CATEGORY_BYTES: usize = 1024;
/// Name of the profile feature that holds the model's prediction (score or class):
/// the prediction is binned and drift-tested like any feature.
pub(crate) const PREDICTION_FEATURE: &str = "prediction";
/// Version used when a record names none.
pub(crate) const UNVERSIONED: &str = "unversioned";

/// One feature value as logged.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    Number(f64),
    Category(String),
    /// Absent, `null`: counted as missing, never part of a distribution.
    Missing,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub score: Option<f64>,
    pub class: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    pub model: String,
    pub version: String,
    pub id: Option<String>,
    /// Event time, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub features: Vec<(String, FeatureValue)>,
    pub prediction: Option<Prediction>,
    pub latency_ms: Option<f64>,
    pub segment: Vec<(String, String)>,
}

/// Ground truth for one earlier prediction, joined by (model, id).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRecord {
    pub model: String,
    pub id: String,
    pub label: LabelValue,
    pub ts_ms: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LabelValue {
    Number(f64),
    Class(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Prediction(PredictionRecord),
    Label(LabelRecord),
}

impl Record {
    pub fn model(&self) -> &str {
        match self {
            Record::Prediction(p) => &p.model,
            Record::Label(l) => &l.model,
        }
    }
}

/// Why a record was rejected. `as_str` is the value of the `reason` metric label and
/// of the `driftd-reason` dead-letter header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeReason {
    Empty,
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    MissingField,
    WrongType,
    InvalidValue,
    /// The same key twice in one object: which one is meant is ambiguous.
    DuplicateKey,
    /// Larger than `[limits] max_message_bytes`; not parsed at all.
    TooLarge,
    /// A model that has neither a reference profile nor a `[models.<name>]` table (or
    /// one past `[limits] max_models` when none is configured).
    UnknownModel,
    /// A prediction whose event time is older than every window tier keeps.
    TooLate,
    /// A prediction whose event time is further ahead of the clock than
    /// `[limits] max_future`.
    FromTheFuture,
    /// A prediction of a version beyond `[limits] max_versions` live versions of its
    /// model.
    TooManyVersions,
    /// A `confluent-json` source's message without the Confluent header.
    WireFormat,
    /// Cluster mode: a record on another partition than its model's (the producer does
    /// not key by model with Kafka's default partitioner); the instance that owns the
    /// model would never see it.
    Partition,
}

impl DecodeReason {
    pub(crate) const ALL: [DecodeReason; 15] = [
        DecodeReason::Empty,
        DecodeReason::InvalidUtf8,
        DecodeReason::InvalidJson,
        DecodeReason::NotAnObject,
        DecodeReason::MissingField,
        DecodeReason::WrongType,
        DecodeReason::InvalidValue,
        DecodeReason::DuplicateKey,
        DecodeReason::TooLarge,
        DecodeReason::UnknownModel,
        DecodeReason::TooLate,
        DecodeReason::FromTheFuture,
        DecodeReason::TooManyVersions,
        DecodeReason::WireFormat,
        DecodeReason::Partition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecodeReason::Empty => "empty",
            DecodeReason::InvalidUtf8 => "invalid_utf8",
            DecodeReason::InvalidJson => "invalid_json",
            DecodeReason::NotAnObject => "not_object",
            DecodeReason::MissingField => "missing_field",
            DecodeReason::WrongType => "wrong_type",
            DecodeReason::InvalidValue => "invalid_value",
            DecodeReason::DuplicateKey => "duplicate_key",
            DecodeReason::TooLarge => "too_large",
            DecodeReason::UnknownModel => "unknown_model",
            DecodeReason::TooLate => "too_late",
            DecodeReason::FromTheFuture => "from_the_future",
            DecodeReason::TooManyVersions => "too_many_versions",
            DecodeReason::WireFormat => "wire_format",
            DecodeReason::Partition => "partition",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct DecodeError {
    pub reason: DecodeReason,
    pub detail: String,
}

pub(crate) fn err(reason: DecodeReason, detail: impl Into<String>) -> DecodeError {
    DecodeError {
        reason,
        detail: detail.into(),
    }
}
