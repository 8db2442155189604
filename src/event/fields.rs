//! Where each field of a record lives, and what a topic carries: the per-topic part of
//! a `[[source]]` table, deserialized here because it is this layer's vocabulary
//! (`config` composes it into the file's shape).

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceRole {
    /// Prediction and feature logs.
    Predictions,
    /// Ground-truth labels, joined to predictions by (model, id).
    Labels,
}

/// JSON pointers (RFC 6901) to each field of a record; the defaults are the record
/// format of the README ("Record format"), so existing logs fit by changing only the paths that differ.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldPaths {
    pub model: JsonPointer,
    pub model_version: JsonPointer,
    pub id: JsonPointer,
    pub timestamp: JsonPointer,
    pub features: JsonPointer,
    pub prediction: JsonPointer,
    pub latency_ms: JsonPointer,
    pub segment: JsonPointer,
    pub label: JsonPointer,
}

impl Default for FieldPaths {
    fn default() -> Self {
        let p = |s: &str| JsonPointer(s.to_string());
        FieldPaths {
            model: p("/model"),
            model_version: p("/model_version"),
            id: p("/id"),
            timestamp: p("/ts"),
            features: p("/features"),
            prediction: p("/prediction"),
            latency_ms: p("/latency_ms"),
            segment: p("/segment"),
            label: p("/label"),
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
