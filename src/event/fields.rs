//! Where each field of a record lives, and what a topic carries: the per-topic part of
//! a `[[source]]` table, deserialized here because it is this layer's vocabulary
//! (`config` composes it into the file's shape).

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::base::time::Zone;

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceRole {
    /// Prediction and feature logs.
    Predictions,
    /// Ground-truth labels, joined to predictions by (model, id).
    Labels,
}

/// Where each field of a record lives, as JSON pointers (RFC 6901), and how its
/// timestamp is read; the defaults are the record format of the README ("Record
/// format"), so existing logs fit by changing only what differs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordFields {
    pub model: JsonPointer,
    pub model_version: JsonPointer,
    pub id: JsonPointer,
    pub timestamp: JsonPointer,
    pub features: JsonPointer,
    pub prediction: JsonPointer,
    pub latency_ms: JsonPointer,
    pub segment: JsonPointer,
    pub label: JsonPointer,
    /// What an epoch-number timestamp counts.
    pub timestamp_unit: TimestampUnit,
    /// The zone of timestamps written without a UTC offset (`2026-12-03T11:00:00`,
    /// what Python's `datetime.now().isoformat()` writes); `None`: such a timestamp is
    /// refused (which zone the producer meant is a guess).
    pub naive_timezone: Option<Zone>,
}

impl Default for RecordFields {
    fn default() -> Self {
        let p = |s: &str| JsonPointer(s.to_string());
        RecordFields {
            model: p("/model"),
            model_version: p("/model_version"),
            id: p("/id"),
            timestamp: p("/ts"),
            features: p("/features"),
            prediction: p("/prediction"),
            latency_ms: p("/latency_ms"),
            segment: p("/segment"),
            label: p("/label"),
            timestamp_unit: TimestampUnit::default(),
            naive_timezone: None,
        }
    }
}

/// A JSON pointer: empty (the whole record) or starting with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPointer(pub String);

impl JsonPointer {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !s.is_empty() && !s.starts_with('/') {
            return Err(de::Error::custom(format!(
                "`{s}` is not a JSON pointer: it must start with `/`, e.g. `/{s}`"
            )));
        }
        Ok(JsonPointer(s))
    }
}

/// What an epoch-number timestamp counts since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampUnit {
    /// Seconds: Python's `time.time()`, Unix `date +%s`.
    S,
    /// Milliseconds: Java's `System.currentTimeMillis()`, JavaScript's `Date.now()`.
    #[default]
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds: Go's `time.Now().UnixNano()`, Python's `time.time_ns()`.
    Ns,
}

impl TimestampUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampUnit::S => "s",
            TimestampUnit::Ms => "ms",
            TimestampUnit::Us => "us",
            TimestampUnit::Ns => "ns",
        }
    }

    /// Milliseconds per unit.
    pub(crate) fn ms_per_unit(self) -> f64 {
        match self {
            TimestampUnit::S => 1e3,
            TimestampUnit::Ms => 1.0,
            TimestampUnit::Us => 1e-3,
            TimestampUnit::Ns => 1e-6,
        }
    }

    /// The next coarser unit: what a value that lands before 1973 was probably sent in.
    pub(crate) fn coarser(self) -> Option<TimestampUnit> {
        match self {
            TimestampUnit::S => None,
            TimestampUnit::Ms => Some(TimestampUnit::S),
            TimestampUnit::Us => Some(TimestampUnit::Ms),
            TimestampUnit::Ns => Some(TimestampUnit::Us),
        }
    }
}
